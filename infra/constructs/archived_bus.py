"""Custom event bus, encrypted with a CMK, with an archive for replay."""

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_kms as kms
from constructs import Construct


class ArchivedEventBus(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        archive_pattern: events.EventPattern,
        retention_days: int,
        description: str,
        bus_name: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.bus = events.EventBus(self, "Bus", kms_key=key, description=description, event_bus_name=bus_name)
        self.archive = self.bus.archive(
            "Archive",
            event_pattern=archive_pattern,
            retention=Duration.days(retention_days),
            description=f"{description}: kept {retention_days} days for replay",
        )
