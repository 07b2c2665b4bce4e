"""EventBridge Pipe from an SQS queue to an event bus, with a least-privilege role."""

from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_pipes as pipes
from aws_cdk import aws_sqs as sqs
from constructs import Construct


class SqsToEventBusPipe(Construct):
    """Each SQS record becomes one event on the bus, with an explicit source and detail-type.

    No input template: the record (its ``body`` a string, exactly as sent) is the event's
    detail, so nothing is re-encoded on the way. The pipe deletes a batch only after the
    bus accepted it; otherwise SQS redelivers and, past maxReceiveCount, dead-letters it.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        queue: sqs.IQueue,
        bus: events.IEventBus,
        source: str,
        detail_type: str,
        batch_size: int,
        batching_window_seconds: int,
        log_group: logs.ILogGroup,
        enrichment: lambda_.IFunction | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("pipes.amazonaws.com"))
        queue.grant_consume_messages(self.role)
        bus.grant_put_events_to(self.role)
        log_group.grant_write(self.role)
        if enrichment is not None:  # invoked synchronously with each batch; its answer goes to the bus
            # The unqualified ARN the pipe names, not grant_invoke's versions too (":*").
            self.role.add_to_policy(iam.PolicyStatement(actions=["lambda:InvokeFunction"],
                                                        resources=[enrichment.function_arn]))
        self.pipe = pipes.CfnPipe(
            self,
            "Pipe",
            role_arn=self.role.role_arn,
            source=queue.queue_arn,
            source_parameters=pipes.CfnPipe.PipeSourceParametersProperty(
                sqs_queue_parameters=pipes.CfnPipe.PipeSourceSqsQueueParametersProperty(
                    batch_size=batch_size,
                    maximum_batching_window_in_seconds=batching_window_seconds,
                )
            ),
            enrichment=enrichment.function_arn if enrichment is not None else None,
            target=bus.event_bus_arn,
            target_parameters=pipes.CfnPipe.PipeTargetParametersProperty(
                event_bridge_event_bus_parameters=pipes.CfnPipe.PipeTargetEventBridgeEventBusParametersProperty(
                    source=source,
                    detail_type=detail_type,
                )
            ),
            log_configuration=pipes.CfnPipe.PipeLogConfigurationProperty(
                level="ERROR",
                cloudwatch_logs_log_destination=pipes.CfnPipe.CloudwatchLogsLogDestinationProperty(
                    log_group_arn=log_group.log_group_arn
                ),
            ),
            desired_state="RUNNING",
        )
        # The role's policy must exist before the pipe starts polling.
        self.pipe.node.add_dependency(self.role)
