"""EventBridge internals that have no registry: buses, policies, dispatch, patterns, archives.

Where a behaviour has no registry (delivery to another account's bus, a rule target),
we wrap the one module function that performs it and delegate to the original for
everything we do not change.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from localcloud.seams.core import PROBE_ACCOUNT_A, PROBE_ACCOUNT_B, PROBE_REGION, decode_json, request_scope


def module():
    from ministack.services import eventbridge

    return eventbridge


def bus_exists(name: str) -> bool:
    return name in module()._event_buses


def bus_policy(name: str) -> dict | None:
    return module()._event_bus_policies.get(name)


def set_bus_policy(bus_name: str, policy: dict) -> None:
    module()._event_bus_policies[bus_name] = policy


def set_bus_policy_statement(bus_name: str, statement: dict) -> None:
    policies = module()._event_bus_policies
    policy = policies.get(bus_name) or {"Version": "2012-10-17", "Statement": []}
    policy["Statement"] = [s for s in policy["Statement"] if s.get("Sid") != statement.get("Sid")] + [statement]
    policies[bus_name] = policy


def remove_bus_policy_statement(bus_name: str, sid: str) -> None:
    policies = module()._event_bus_policies
    policy = policies.get(bus_name)
    if not policy:
        return
    policy["Statement"] = [s for s in policy["Statement"] if s.get("Sid") != sid]
    if not policy["Statement"]:
        del policies[bus_name]


def bus_name_from_ref(ref: str) -> tuple[str, tuple[str, str] | None]:
    """ministack's reading of an EventBusName (name or same-scope ARN): (name, error)."""
    return module()._event_bus_name_from_ref(ref or "default")


def dispatch_on_bus(event: dict) -> None:
    """Match ``event`` against the rules of its bus (current scope) and archive it."""
    eventbridge = module()
    eventbridge._dispatch_event(event)
    archived = {k: v for k, v in event.items() if k != "_DispatchPath"}
    eventbridge._archive_event(archived)


def rule_key(rule: dict) -> str:
    return module()._rule_key(rule.get("Name"), rule.get("EventBusName", "default"))


def wrap_function(name: str, make_wrapper: Callable[[Callable], Callable]) -> None:
    """Wrap one of ministack's EventBridge module functions, e.g. ``_dispatch_to_event_bus``,
    ``_dispatch_to_stepfunctions``, or ``_invoke_target(target, event, rule, view=None)``
    (delivery to one rule target)."""
    eventbridge = module()
    setattr(eventbridge, name, make_wrapper(getattr(eventbridge, name)))


def delivered_event(event: dict) -> dict:
    """The event exactly as EventBridge hands it to a target."""
    return module()._pattern_event_view(event).event_with_detail()


def pattern_matches(pattern: str, document: dict) -> bool:
    """EventBridge pattern semantics (as ministack implements them) on any JSON object."""
    eventbridge = module()
    alternatives = eventbridge._compiled_pattern(pattern)
    return bool(alternatives) and any(eventbridge._matches_detail(document, alt) for alt in alternatives)


def render_input_template(template: str, values: dict[str, Any]) -> str:
    """Fill ``<name>`` placeholders the way EventBridge input transformers do."""
    return module()._render_input_template(template, values)


def action(name: str, payload: dict) -> tuple[int, dict]:
    """Run an EventBridge API action synchronously in the current request scope (usable
    from CloudFormation provisioners, which may run on the event loop)."""
    eventbridge = module()
    handler = {"CreateArchive": eventbridge._create_archive, "UpdateArchive": eventbridge._update_archive,
               "DeleteArchive": eventbridge._delete_archive, "DescribeEventBus": eventbridge._describe_event_bus,
               "UpdateEventBus": eventbridge._update_event_bus}[name]
    status, _headers, body = handler(payload)
    return decode_json(status, body)


def trim_event_log(keep: int) -> int:
    """ministack appends every event put on any bus to an internal list no API reads;
    keep its newest ``keep`` entries per account and region. Returns how many went."""
    removed = 0
    for _scoped_key, entries in module()._events_log.all_items():
        if isinstance(entries, list) and len(entries) > keep:
            removed += len(entries) - keep
            del entries[: len(entries) - keep]
    return removed


# --- probes: does ministack already do the job? ------------------------------------------
# Each runs ministack's own EventBridge actions in scratch accounts, before any extension
# is installed, and removes what it made.

def _call(name: str, payload: dict) -> dict:
    status, _headers, body = getattr(module(), name)(payload)
    return json.loads(body) if body else {}


def probe_cross_account_bus_delivery() -> bool:
    """True when a rule whose target is another account's bus delivers there."""
    target_arn = f"arn:aws:events:{PROBE_REGION}:{PROBE_ACCOUNT_B}:event-bus/localcloud-probe"
    try:
        with request_scope(PROBE_ACCOUNT_B, PROBE_REGION):
            _call("_create_event_bus", {"Name": "localcloud-probe"})
            _call("_put_rule", {"Name": "probe-in", "EventBusName": "localcloud-probe",
                                "EventPattern": json.dumps({"source": ["localcloud.probe"]})})
            _call("_put_targets", {"Rule": "probe-in", "EventBusName": "localcloud-probe", "Targets": [
                {"Id": "q", "Arn": f"arn:aws:sqs:{PROBE_REGION}:{PROBE_ACCOUNT_B}:localcloud-probe-missing"}]})
            _call("_put_permission", {"EventBusName": "localcloud-probe", "StatementId": "probe",
                                      "Principal": PROBE_ACCOUNT_A, "Action": "events:PutEvents"})
        with request_scope(PROBE_ACCOUNT_A, PROBE_REGION):
            _call("_put_rule", {"Name": "probe-out", "EventPattern": json.dumps({"source": ["localcloud.probe"]})})
            _call("_put_targets", {"Rule": "probe-out", "Targets": [
                {"Id": "b", "Arn": target_arn, "RoleArn": f"arn:aws:iam::{PROBE_ACCOUNT_A}:role/probe"}]})
            delivered = []
            original = module()._dispatch_event

            def spy(event, view=None):
                if event.get("EventBusName") == "localcloud-probe":
                    delivered.append(event)
                return original(event, view)

            module()._dispatch_event = spy
            try:
                _call("_put_events", {"Entries": [{"Source": "localcloud.probe", "DetailType": "probe",
                                                   "Detail": "{}"}]})
            finally:
                module()._dispatch_event = original
        return bool(delivered)
    finally:
        with request_scope(PROBE_ACCOUNT_A, PROBE_REGION):
            _call("_remove_targets", {"Rule": "probe-out", "Ids": ["b"]})
            _call("_delete_rule", {"Name": "probe-out"})
        with request_scope(PROBE_ACCOUNT_B, PROBE_REGION):
            _call("_remove_targets", {"Rule": "probe-in", "EventBusName": "localcloud-probe", "Ids": ["q"]})
            _call("_delete_rule", {"Name": "probe-in", "EventBusName": "localcloud-probe"})
            _call("_remove_permission", {"EventBusName": "localcloud-probe", "RemoveAllPermissions": True})
            _call("_delete_event_bus", {"Name": "localcloud-probe"})


def probe_log_group_targets() -> bool:
    """True when a rule whose target is a log group writes the event to it."""
    from ministack.services import cloudwatch_logs

    group = "/localcloud/probe"
    with request_scope(PROBE_ACCOUNT_A, PROBE_REGION):
        cloudwatch_logs._create_log_group({"logGroupName": group})
        try:
            _call("_put_rule", {"Name": "probe-log", "EventPattern": json.dumps({"source": ["localcloud.probe"]})})
            _call("_put_targets", {"Rule": "probe-log", "Targets": [
                {"Id": "l", "Arn": f"arn:aws:logs:{PROBE_REGION}:{PROBE_ACCOUNT_A}:log-group:{group}"}]})
            _call("_put_events", {"Entries": [{"Source": "localcloud.probe", "DetailType": "probe", "Detail": "{}"}]})
            streams = cloudwatch_logs._log_groups.get(group, {}).get("streams", {})
            return bool(streams)
        finally:
            _call("_remove_targets", {"Rule": "probe-log", "Ids": ["l"]})
            _call("_delete_rule", {"Name": "probe-log"})
            cloudwatch_logs._delete_log_group({"logGroupName": group})


def bus_policy_and_key(bus_arn: str) -> tuple[dict | None, str] | None:
    """(policy, KmsKeyIdentifier) of the bus ``bus_arn`` in any account; None when it does not exist."""
    parts = bus_arn.split(":", 5)
    name = parts[5].split("/", 1)[1] if len(parts) == 6 and "/" in parts[5] else ""
    with request_scope(parts[4], parts[3]):
        bus = module()._event_buses.get(name)
        if bus is None:
            return None
        return module()._event_bus_policies.get(name), bus.get("KmsKeyIdentifier") or ""
