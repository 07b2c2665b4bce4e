"""Rule targets are delivered as EventBridge delivers them on AWS: as the target's role
(RoleArn: Step Functions, buses, …) or as EventBridge itself, ``events.amazonaws.com`` with
the rule as aws:SourceArn, under the target's resource policy (SQS queue policy, Lambda
function policy, CloudWatch Logs resource policy, SNS topic policy), encrypted resources'
KMS keys included.

A target that refuses is a failed invocation, as AWS reports it: the rule's
``FailedInvocations`` metric (AWS/Events) counts it, and the event goes to the target's
dead-letter queue (with the ERROR_CODE, ERROR_MESSAGE, RULE_ARN and TARGET_ARN attributes
EventBridge adds) when EventBridge may send to it; else it is dropped. A permission error
is not retried (EventBridge user guide, "Event retry policy and using dead-letter queues").
"""

from __future__ import annotations

import json
import logging

from localcloud import auth, seams
from localcloud.extension import Extension

logger = logging.getLogger("localcloud.events")

EVENTBRIDGE = "events.amazonaws.com"


def _actions(target_arn: str, event: dict) -> list[tuple[str, str]]:
    """What delivering to ``target_arn`` performs: (action, resource) pairs."""
    parts = target_arn.split(":")
    service = parts[2] if len(parts) > 5 else ""
    if service == "events":
        return [("events:PutEvents", target_arn)] if ":event-bus/" in target_arn else []
    if service == "logs" and len(parts) > 6:
        stream = f"{':'.join(parts[:7])}:log-stream:{event.get('EventId', '')}"
        return [("logs:CreateLogStream", stream), ("logs:PutLogEvents", stream)]
    action = {"states": "states:StartExecution", "lambda": "lambda:InvokeFunction", "sqs": "sqs:SendMessage",
              "sns": "sns:Publish", "kinesis": "kinesis:PutRecord", "firehose": "firehose:PutRecord"}.get(service)
    return [(action, target_arn)] if action else []


def _authorize(target: dict, event: dict, rule_arn: str, account: str) -> None:
    source = {"aws:SourceArn": rule_arn, "aws:SourceAccount": account}
    role = target.get("RoleArn")
    principal = auth.acting_role(EVENTBRIDGE, role, **source) if role else EVENTBRIDGE
    for action, resource in _actions(target.get("Arn", ""), event):
        auth.require(principal, action, resource, **({} if role else source))


def dead_letter(target: dict, event: dict, rule: dict, code: str, message: str, payload: str | None = None,
                **attributes: str) -> None:
    """A failed invocation, as EventBridge records it: the rule's FailedInvocations metric,
    then the event (``payload``: what the target would have received) on the target's
    dead-letter queue with the ERROR_CODE, ERROR_MESSAGE, RULE_ARN and TARGET_ARN
    attributes (and ``attributes``), if EventBridge may send to that queue; else dropped."""
    rule_arn, target_arn = rule.get("Arn", ""), target.get("Arn", "")
    logger.warning("rule %s: target %s refused the event %s: %s: %s", rule.get("Name"), target_arn,
                   event.get("EventId"), code, message)
    bus = rule.get("EventBusName", "default")
    seams.cloudwatch.record_metric("AWS/Events", "FailedInvocations", 1, "Count", {"RuleName": rule.get("Name", "")})
    seams.cloudwatch.record_metric("AWS/Events", "FailedInvocations", 1, "Count",
                                   {"EventBusName": bus, "RuleName": rule.get("Name", "")})
    dead_letters = (target.get("DeadLetterConfig") or {}).get("Arn")
    if not dead_letters:
        return
    try:
        auth.require(EVENTBRIDGE, "sqs:SendMessage", dead_letters,
                     **{"aws:SourceArn": rule_arn, "aws:SourceAccount": seams.current_account()})
    except auth.AccessDenied as refused:
        logger.warning("rule %s: event %s dropped: EventBridge may not send to the dead-letter queue %s: %s",
                       rule.get("Name"), event.get("EventId"), dead_letters, refused.message)
        return
    body = payload if payload is not None else json.dumps(seams.events.delivered_event(event), separators=(",", ":"))
    sent = seams.sqs.send_message(dead_letters, body, {"ERROR_CODE": code, "ERROR_MESSAGE": message,
                                                       "RULE_ARN": rule_arn, "TARGET_ARN": target_arn, **attributes})
    if sent is None:
        logger.warning("rule %s: dead-letter queue %s does not exist", rule.get("Name"), dead_letters)


def _wrap_invoke_target(original):
    def invoke_target(target, event, rule, view=None):
        if auth.enabled():
            try:
                _authorize(target, event, rule.get("Arn", ""), seams.current_account())
            except auth.AccessDenied as denied:
                dead_letter(target, event, rule, denied.code, denied.message)
                return
        original(target, event, rule, view)

    return invoke_target


def install() -> None:
    seams.events.wrap_function("_invoke_target", _wrap_invoke_target)


EXTENSION = Extension(name="event_target_roles", needed=auth.enabled, install=install)
