"""Rules that link buses: forwarding to another account's or region's bus, and audit logs."""

from __future__ import annotations

import jsii
from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct


def forward_to_bus(
    scope: Construct,
    construct_id: str,
    *,
    from_bus: events.IEventBus,
    pattern: events.EventPattern,
    target_bus_arn: str,
    dead_letter_queue: sqs.IQueue,
    description: str,
) -> events.Rule:
    """A rule whose target is a bus in another account or region, through the role AWS
    requires for such targets, allowed to put events on that one bus only."""
    role = iam.Role(scope, f"{construct_id}Role", assumed_by=iam.ServicePrincipal("events.amazonaws.com"))
    role.add_to_policy(iam.PolicyStatement(actions=["events:PutEvents"], resources=[target_bus_arn]))
    return events.Rule(
        scope,
        construct_id,
        event_bus=from_bus,
        description=description,
        event_pattern=pattern,
        targets=[
            targets.EventBus(
                events.EventBus.from_event_bus_arn(scope, f"{construct_id}Target", target_bus_arn),
                role=role,
                dead_letter_queue=dead_letter_queue,
            )
        ],
    )


@jsii.implements(events.IRuleTarget)
class _LogGroupTarget:
    """Rule target writing events to a log group. aws-events-targets' CloudWatchLogGroup
    writes the Logs resource policy through a custom-resource Lambda; a plain
    AWS::Logs::ResourcePolicy (``allow_event_delivery``) does the same declaratively."""

    def __init__(self, log_group: logs.ILogGroup) -> None:
        self._log_group = log_group

    def bind(self, rule: events.IRule, id: str | None = None) -> events.RuleTargetConfig:
        return events.RuleTargetConfig(
            # A rule target names the log group itself, not the ":*" streams ARN.
            arn=Stack.of(self._log_group).format_arn(
                service="logs", resource="log-group", resource_name=self._log_group.log_group_name,
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            ),
            retry_policy=events.CfnRule.RetryPolicyProperty(maximum_event_age_in_seconds=24 * 3600, maximum_retry_attempts=8),
        )


def allow_event_delivery(scope: Construct, construct_id: str, log_group: logs.ILogGroup) -> logs.ResourcePolicy:
    return logs.ResourcePolicy(
        scope,
        construct_id,
        policy_statements=[
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("events.amazonaws.com"), iam.ServicePrincipal("delivery.logs.amazonaws.com")],
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[log_group.log_group_arn],
            )
        ],
    )


def log_events_to(
    scope: Construct, construct_id: str, *, bus: events.IEventBus, log_group: logs.ILogGroup, pattern: events.EventPattern
) -> events.Rule:
    allow_event_delivery(scope, f"{construct_id}DeliveryPolicy", log_group)
    return events.Rule(scope, construct_id, event_bus=bus, event_pattern=pattern, targets=[_LogGroupTarget(log_group)])
