"""Rule targets that are state machines, started the way EventBridge starts them.

What ministack 1.5.33 does differently, and AWS's behaviour:

* the execution's name: AWS names it after the event (it starts with the event's id;
  LocalStack's AWS-validated test_put_events_with_target_statefunction_machine asserts
  ``name.startswith(EventId)``); here ``<event id>_<uuid>``, unique per delivery;
  ministack gives a bare UUID;
* EventBridge starts the execution as the target's role (``states:StartExecution`` on
  the state machine; ``target_roles`` asks localcloud.auth before every rule target);
* a start the target refuses (input over 256 KiB, no such state machine, no permission)
  is not retried and goes to the target's dead-letter queue, the event (what the target
  would have received) as the message body with RULE_ARN, TARGET_ARN, ERROR_CODE and ERROR_MESSAGE attributes
  (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html: "for errors
  that result from missing permissions to a target, or if a target resource that no longer
  exists, no retry attempts will happen ... EventBridge sends these events directly to the
  target DLQ"); ministack drops it silently.
"""

from __future__ import annotations

import contextvars
import logging

from localcloud import seams
from localcloud.extension import Extension
from localcloud.services.events import target_roles

logger = logging.getLogger("localcloud.events.state_machine_targets")

_delivery: contextvars.ContextVar[tuple | None] = contextvars.ContextVar("localcloud_rule_delivery", default=None)


def execution_name(event_id: str) -> str:
    return f"{event_id}_{seams.new_id()}"


def _dead_letter(target: dict, rule: dict, event: dict, payload: str, code: str, message: str) -> None:
    target_roles.dead_letter(target, event, rule, code, message, payload,
                             EXHAUSTED_RETRY_CONDITION="MaximumRetryAttempts", RETRY_ATTEMPTS="0")


def start(arn: str, payload: str) -> None:
    target, rule, event = _delivery.get() or ({}, {}, {})
    request = {"stateMachineArn": arn, "input": payload}
    if event.get("EventId"):
        request["name"] = execution_name(event["EventId"])
    # (as the target's role: target_roles asked before the delivery reached here)
    status, body = seams.states.start_execution(request)
    if status >= 400:
        _dead_letter(target, rule, event, payload, body.get("__type", "ValidationException"), body.get("message", ""))


def _wrap_invoke_target(original):
    def invoke_target(target, event, rule, view=None):
        token = _delivery.set((target, rule, event))
        try:
            return original(target, event, rule, view)
        finally:
            _delivery.reset(token)

    return invoke_target


def needed() -> bool:
    return not seams.events.probe_names_executions_after_events()


def install() -> None:
    seams.events.wrap_function("_invoke_target", _wrap_invoke_target)
    seams.events.wrap_function("_dispatch_to_stepfunctions", lambda _original: start)


EXTENSION = Extension(name="events_state_machine_targets", needed=needed, install=install)
