"""An application account's own bus on the backbone.

Accepts events from the backbone account only and (for consumers) hands subscribed
events to a Lambda that logs them. Applications publish their own domain events straight
to the global bus (cross-account PutEvents, allowed by its bus policy): EventBridge
forwards an event from one bus to another once only, and that one hop is the backbone's
delivery to each subscriber.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.config import Application, DeploymentConfig
from infra.constructs.backbone_links import log_events_to
from infra.constructs.encryption import ServiceKey
from infra.constructs.idempotency import idempotency_table
from infra.constructs.logs import encrypted_log_group
from infra.constructs.python_function import PythonFunction
from infra.constructs.queues import encrypted_queue


class ApplicationBusStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: DeploymentConfig, application: Application, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        retention = config.pipeline.log_retention_days
        key = ServiceKey(self, "Encryption", description=f"{application.name} application bus and logs").key
        self.bus = events.EventBus(
            self, "Bus", event_bus_name=config.application_bus_name(application), kms_key=key,
            description=f"{application.name}: domain events in and out of the backbone",
        )
        self.bus.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AcceptEventsFromBackboneOnly",
                principals=[iam.AccountPrincipal(config.backbone.account)],
                actions=["events:PutEvents"],
                resources=[self.bus.event_bus_arn],
            )
        )
        # Everything that arrives from outside this account, for audit (and for tests:
        # an application never sees its own events come back).
        inbound_log = encrypted_log_group(self, "InboundEvents", key=key, days=retention)
        log_events_to(
            self, "LogInbound", bus=self.bus, log_group=inbound_log,
            pattern=events.EventPattern(account=events.Match.anything_but(application.account)),
        )
        outputs = {
            "BusName": self.bus.event_bus_name,
            "BusArn": self.bus.event_bus_arn,
            "InboundLogGroupName": inbound_log.log_group_name,
        }

        if application.consumer and application.subscribes:
            dead_letters = encrypted_queue(self, "DeliveryDeadLetters", key=key)
            # Delivery is at least once: the consumer remembers what it handled, by the
            # events' transaction_id, and drops copies (expired after 8 days by TTL).
            handled = idempotency_table(self, "HandledEvents", key=key)
            consumer = PythonFunction(
                self,
                "Consumer",
                source="ledger_consumer",
                description=f"{application.name}: handles each subscribed backbone event once",
                environment={"IDEMPOTENCY_TABLE_NAME": handled.table_name},
                key=key,
                log_retention_days=retention,
            )
            # What Powertools idempotency calls, on this table only (and its key).
            handled.grant(consumer.function, "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
                          "dynamodb:DeleteItem")
            key.grant_encrypt_decrypt(consumer.function)
            from aws_cdk import aws_events_targets as targets

            events.Rule(
                self,
                "Subscribed",
                event_bus=self.bus,
                event_pattern=events.EventPattern(
                    detail_type=list(application.subscribes),
                    account=events.Match.anything_but(application.account),
                ),
                targets=[targets.LambdaFunction(consumer.function, dead_letter_queue=dead_letters, retry_attempts=8)],
            )
            outputs["ConsumerLogGroupName"] = consumer.log_group.log_group_name
            outputs["ConsumerFunctionName"] = consumer.function.function_name
            outputs["DeliveryDeadLetterQueueUrl"] = dead_letters.queue_url

        for name, value in outputs.items():
            CfnOutput(self, name, value=value)
