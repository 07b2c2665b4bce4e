"""EventBridge between accounts and regions, with bus policies enforced.

ministack 1.5.33 drops an event whose rule target is a bus in another account or region
("event bus ... not found"), refuses PutEvents naming another account's bus, and never
reads a bus policy. This extension delivers both, the way AWS does:

* a rule whose target is a bus elsewhere forwards the event there (the rule's role, and
  the receiving bus's policy, are checked before, with the rule's other targets:
  ``target_roles``);
* each PutEvents entry is authorized on its own bus for the caller (``localcloud.auth``:
  the caller's identity policy, and the bus policy when the bus is another account's); an
  entry refused fails with AccessDeniedException, nothing delivered;
* an event that already crossed from one bus to another is not forwarded again, as AWS
  documents ("events are not sent to the third account / third event bus");
* the event keeps the ``account`` it was first put in, which is how a backbone rule
  can leave an application's own events out of what it sends back to it.
"""

from __future__ import annotations

import json
import logging
import time

from localcloud import auth, seams
from localcloud.extension import Extension

logger = logging.getLogger("localcloud.cross_account_events")

# Marks an event that reached its bus through a bus-to-bus forward (internal field,
# next to ministack's own ``_DispatchPath``; never part of the delivered event).
FORWARDED_MARK = "_LocalCloudForwarded"


def _arn_parts(arn: str) -> tuple[str, str, str] | None:
    """(account, region, bus name) of an event-bus ARN, else None."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "events" or not parts[5].startswith("event-bus/"):
        return None
    return parts[4], parts[3], parts[5].split("/", 1)[1]


# --- a rule's target is a bus in another account or region -------------------------

def forward(spec, event: dict, rule: dict, event_path, target_input_payload=None, *, same_scope_dispatch=None) -> None:
    target_arn = str(spec)
    parts = _arn_parts(target_arn)
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
            "EventBusName": bus_name,
            "Region": region,
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


# --- PutEvents naming another account's bus -----------------------------------------

def _put_on_foreign_bus(entry: dict, sender_account: str, target: tuple[str, str, str], bus_arn: str) -> dict:
    account, region, bus_name = target
    source = entry.get("Source")
    if isinstance(source, str) and source.startswith("aws."):
        return {"ErrorCode": "NotAuthorizedForSourceException", "ErrorMessage": "Not authorized for the source."}
    with seams.request_scope(account, region):
        if not seams.events.bus_exists(bus_name):
            return {"ErrorCode": "ResourceNotFoundException", "ErrorMessage": f"Event bus {bus_name} does not exist."}
        event_id = seams.new_id()
        seams.events.dispatch_on_bus({
            "EventId": event_id,
            "Source": entry.get("Source", ""),
            "DetailType": entry.get("DetailType", ""),
            "Detail": entry.get("Detail", "{}"),
            "EventBusName": bus_name,
            "Time": int(time.time()),
            "Resources": entry.get("Resources", []),
            "Account": sender_account,
            "Region": region,
        })
    return {"EventId": event_id}


def _foreign_target(entry: dict, account: str, region: str) -> tuple[str, str, str] | None:
    name = entry.get("EventBusName") or ""
    parts = _arn_parts(name) if name.startswith("arn:") else None
    if parts and parts[0] != account and parts[1] == region:
        return parts
    return None


def _bus_arn(entry: dict, account: str, region: str) -> str:
    name = entry.get("EventBusName") or "default"
    return name if name.startswith("arn:") else f"arn:aws:events:{region}:{account}:event-bus/{name}"


def _refused(entry: dict, account: str, region: str) -> dict | None:
    """The failed entry when the caller may not put events on the entry's bus (a bus that
    does not exist fails as ResourceNotFoundException, below)."""
    bus_arn = _bus_arn(entry, account, region)
    if seams.events.bus_policy_and_key(bus_arn) is None:
        return None
    decision = auth.decide_for_acting("events:PutEvents", bus_arn)
    if decision.allowed:
        return None
    return {"ErrorCode": "AccessDeniedException", "ErrorMessage": decision.message}


def _missing_local_bus(entry: dict) -> dict | None:
    """The failed entry AWS returns for a bus that does not exist (ministack accepts it)."""
    name, error = seams.events.bus_name_from_ref(entry.get("EventBusName") or "default")
    if error or seams.events.bus_exists(name):
        return None
    return {"ErrorCode": "ResourceNotFoundException", "ErrorMessage": f"Event bus {name} does not exist."}


async def _put_events(original, method, path, headers, body, query_params):
    try:
        request = json.loads(body or b"{}")
        entries = list(request.get("Entries") or [])
    except (ValueError, AttributeError):
        return await original(method, path, headers, body, query_params)
    if not entries or len(entries) > 10 or not all(isinstance(e, dict) for e in entries):
        return await original(method, path, headers, body, query_params)  # ministack's own validation
    account, region = seams.current_account(), seams.current_region()
    outcomes = []
    for entry in entries:
        refused = _refused(entry, account, region)
        target = _foreign_target(entry, account, region)
        if refused:
            outcomes.append(("refused", refused))
        else:
            outcomes.append(("foreign", target) if target else ("missing", _missing_local_bus(entry)))
    if all(kind == "missing" and failure is None for kind, failure in outcomes):
        return await original(method, path, headers, body, query_params)
    results = []
    for entry, (kind, detail) in zip(entries, outcomes):
        if kind == "refused":
            results.append(detail)
        elif kind == "foreign":
            results.append(_put_on_foreign_bus(entry, account, detail, entry["EventBusName"]))
        elif detail is not None:
            results.append(detail)
        else:
            single = json.dumps({**request, "Entries": [entry]}).encode()
            status, response_headers, response = await original(method, path, headers, single, query_params)
            if status >= 400:
                return status, response_headers, response
            results.append(json.loads(response)["Entries"][0])
    failed = sum(1 for r in results if "ErrorCode" in r)
    return 200, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps(
        {"FailedEntryCount": failed, "Entries": results}).encode()


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
        if action == "PutEvents":
            return await _put_events(original, method, path, headers, body, query_params)
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
