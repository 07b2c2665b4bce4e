"""The backbone account's global bus, in the primary region and a second region.

Applications put events on it (bus policy: listed accounts only, and the organization
when one is configured); per-subscriber rules hand each application what it subscribes
to, never its own events; everything is archived and written to an audit log.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.config import DeploymentConfig, bus_arn
from infra.constructs.backbone_links import forward_to_bus, log_events_to
from infra.constructs.encryption import ServiceKey
from infra.constructs.logs import encrypted_log_group
from infra.constructs.queues import encrypted_queue

CATCH_ALL = events.EventPattern(source=events.Match.prefix(""))


class BackboneStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: DeploymentConfig, primary: bool, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        key = ServiceKey(self, "Encryption", description="Backbone bus, archive and audit log").key
        self.bus = events.EventBus(
            self, "GlobalBus", event_bus_name=config.global_bus_name, kms_key=key,
            description="Backbone: domain events between application accounts",
        )
        publishers = sorted({a.account for a in config.applications})
        conditions = {"StringEquals": {"aws:PrincipalOrgID": config.organization_id}} if config.organization_id else None
        self.bus.add_to_resource_policy(
            iam.PolicyStatement(
                sid="ApplicationAccountsMayPublish",
                principals=[iam.AccountPrincipal(account) for account in publishers],
                actions=["events:PutEvents"],
                resources=[self.bus.event_bus_arn],
                conditions=conditions,
            )
        )
        self.archive = self.bus.archive(
            "Archive",
            event_pattern=CATCH_ALL,
            retention=Duration.days(config.pipeline.archive_retention_days),
            description="Every event on the backbone, for replay",
        )
        audit_log = encrypted_log_group(self, "Audit", key=key, days=config.pipeline.log_retention_days)
        log_events_to(self, "AuditAll", bus=self.bus, log_group=audit_log, pattern=CATCH_ALL)
        dead_letters = encrypted_queue(self, "DeliveryDeadLetters", key=key)

        if primary:
            for app in config.applications:
                if not app.subscribes:
                    continue
                forward_to_bus(
                    self,
                    f"To{app.name.title()}",
                    from_bus=self.bus,
                    # One hop, and never an application's own events back to it.
                    pattern=events.EventPattern(
                        detail_type=list(app.subscribes), account=events.Match.anything_but(app.account)
                    ),
                    target_bus_arn=bus_arn(app.account, app.region, config.application_bus_name(app)),
                    dead_letter_queue=dead_letters,
                    description=f"Subscribed events to {app.name}",
                )
            if config.subscribed_detail_types:
                forward_to_bus(
                    self,
                    "ToSecondRegion",
                    from_bus=self.bus,
                    pattern=events.EventPattern(detail_type=list(config.subscribed_detail_types)),
                    target_bus_arn=bus_arn(config.backbone.account, config.second_region, config.global_bus_name),
                    dead_letter_queue=dead_letters,
                    description=f"Subscribed events to {config.second_region}",
                )

        for name, value in {
            "GlobalBusName": self.bus.event_bus_name,
            "GlobalBusArn": self.bus.event_bus_arn,
            "ArchiveName": self.archive.archive_name,
            "AuditLogGroupName": audit_log.log_group_name,
            "DeliveryDeadLetterQueueUrl": dead_letters.queue_url,
        }.items():
            CfnOutput(self, name, value=value)
