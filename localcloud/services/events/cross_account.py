"""EventBridge between accounts and regions.

ministack 1.5.33 drops an event whose rule target is a bus in another account or region
("event bus ... not found") and never reads a bus policy. This extension delivers, the
way AWS does (PutEvents naming another account's bus is put_events.py):

* a rule whose target is a bus elsewhere forwards the event there (the rule's role, and
  the receiving bus's policy when it is another account's, are evaluated before, with the
  rule's other targets: ``target_roles``);
* an event that already crossed from one bus to another is not forwarded again, as AWS
  documents ("events are not sent to the third account / third event bus");
* the event keeps the ``account`` and ``region`` it was first put in, which is how a
  backbone rule can leave an application's own events out of what it sends back to it;
  crossing to another region gives it a new ``id``, crossing to another account in the
  same region keeps it (LocalStack snapshot test_event_bus_to_event_bus_cross_account_region,
  recorded on AWS: tests/aws/services/events/test_events_cross_account_region.snapshot.json).
"""

from __future__ import annotations

import json
import logging

from localcloud import seams
from localcloud.extension import Extension

logger = logging.getLogger("localcloud.cross_account_events")

# Marks an event that reached its bus through a bus-to-bus forward (internal field,
# next to ministack's own ``_DispatchPath``; never part of the delivered event).
FORWARDED_MARK = "_LocalCloudForwarded"


def bus_arn_parts(arn: str) -> tuple[str, str, str] | None:
    """(account, region, bus name) of an event-bus ARN, else None."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "events" or not parts[5].startswith("event-bus/"):
        return None
    return parts[4], parts[3], parts[5].split("/", 1)[1]


# --- a rule's target is a bus in another account or region -------------------------

def forward(spec, event: dict, rule: dict, event_path, target_input_payload=None, *, same_scope_dispatch=None) -> None:
    target_arn = str(spec)
    parts = bus_arn_parts(target_arn)
    sender_account, sender_region = seams.current_account(), seams.current_region()
    rule_name = rule.get("Name", "?")
    if parts is None:
        logger.warning("rule %s: target %s is not an event bus ARN", rule_name, target_arn)
        return
    if event.get(FORWARDED_MARK):
        logger.warning(
            "rule %s: event %s not forwarded to %s: it already came from another bus, and EventBridge "
            "forwards an event from bus to bus once only", rule_name, event.get("EventId"), target_arn)
        return
    account, region, bus_name = parts
    if (account, region) == (sender_account, sender_region):
        same_scope_dispatch(spec, {**event, FORWARDED_MARK: True}, rule, event_path, target_input_payload)
        return
    with seams.request_scope(account, region):
        if not seams.events.bus_exists(bus_name):
            logger.warning("rule %s: target bus %s does not exist: event %s not delivered",
                           rule_name, target_arn, event.get("EventId"))
            return
        forwarded = dict(event)
        forwarded.update({
            "EventId": event.get("EventId") if region == sender_region else seams.new_id(),
            "EventBusName": bus_name,
            "_DispatchPath": [*event_path, f"{sender_account}/{sender_region}/{seams.events.rule_key(rule)}"],
            FORWARDED_MARK: True,
        })
        if target_input_payload is not None:
            forwarded["Detail"] = target_input_payload
        seams.events.dispatch_on_bus(forwarded)


def _wrap_dispatch_to_event_bus(original):
    def dispatch_to_event_bus(spec, event, rule, event_path, target_input_payload=None):
        forward(spec, event, rule, event_path, target_input_payload, same_scope_dispatch=original)

    return dispatch_to_event_bus


def _aws_statement_shape(statement: dict) -> dict:
    """PutPermission's Principal (account id or *) and {Type, Key, Value} Condition, as
    AWS stores them in the bus policy."""
    shaped = dict(statement)
    principal = shaped.get("Principal")
    if isinstance(principal, str) and principal != "*":
        shaped["Principal"] = {"AWS": f"arn:aws:iam::{principal}:root"}
    condition = shaped.get("Condition")
    if isinstance(condition, dict) and {"Type", "Key", "Value"} <= set(condition):
        shaped["Condition"] = {condition["Type"]: {condition["Key"]: condition["Value"]}}
    return shaped


async def _put_permission(original, method, path, headers, body, query_params):
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        return await original(method, path, headers, body, query_params)
    bus = request.get("EventBusName") or "default"
    if request.get("Policy"):
        # ministack ignores Policy and stores "Allow * events:PutEvents" instead.
        try:
            policy = json.loads(request["Policy"]) if isinstance(request["Policy"], str) else request["Policy"]
        except ValueError:
            return 400, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps(
                {"__type": "ValidationException", "message": "Policy is not valid JSON."}).encode()
        if not seams.events.bus_exists(bus):
            return 400, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps(
                {"__type": "ResourceNotFoundException", "message": f"Event bus {bus} does not exist."}).encode()
        seams.events.set_bus_policy(bus, policy)
        return 200, {"Content-Type": "application/x-amz-json-1.1"}, b"{}"
    result = await original(method, path, headers, body, query_params)
    if result[0] < 400:
        for statement in (seams.events.bus_policy(bus) or {}).get("Statement", []):
            if statement.get("Sid") == request.get("StatementId"):
                seams.events.set_bus_policy_statement(bus, _aws_statement_shape(statement))
    return result


def _wrap_events_handler(original):
    async def handle(method, path, headers, body, query_params):
        action = headers.get("x-amz-target", "").rsplit(".", 1)[-1]
        if action == "PutPermission":
            return await _put_permission(original, method, path, headers, body, query_params)
        return await original(method, path, headers, body, query_params)

    return handle


def needed() -> bool:
    return not seams.events.probe_cross_account_bus_delivery()


def install() -> None:
    seams.events.wrap_function("_dispatch_to_event_bus", _wrap_dispatch_to_event_bus)
    seams.wrap_service_handler("events", _wrap_events_handler)


EXTENSION = Extension(name="cross_account_events", needed=needed, install=install)
