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


def ensure_default_bus() -> None:
    """The current scope's default bus, which ministack creates on first use."""
    module()._ensure_default_bus()


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


def replace_json(make_json: Callable[[Any], Any]) -> None:
    """Give ministack's EventBridge module a ``json`` of our own (wrapping the standard
    module): every event it serialises for a target goes through its ``dumps``."""
    eventbridge = module()
    eventbridge.json = make_json(eventbridge.json)

def api_destination_request(arn: str, http_parameters: dict, payload: str) -> tuple[dict | None, str]:
    """The HTTP request EventBridge sends for one delivery to the API destination ``arn``
    (current scope): ({url, method, headers, body}, "") or (None, why not)."""
    eventbridge = module()
    name = arn.split(":", 5)[-1].split("/")[1] if "/" in arn else ""
    destination = eventbridge._api_destinations.get(name)
    if not destination:
        return None, f"API destination {name} does not exist"
    if destination.get("ApiDestinationState", "ACTIVE") != "ACTIVE":
        return None, f"API destination {name} is {destination.get('ApiDestinationState')}"
    connection_name = (destination.get("ConnectionArn") or "").split("/")[1] if "/" in (
        destination.get("ConnectionArn") or "") else ""
    connection = eventbridge._connections.get(connection_name)
    if connection is None or connection.get("ConnectionState", "AUTHORIZED") != "AUTHORIZED":
        return None, f"connection {connection_name} is missing or not authorized"
    request = eventbridge._build_api_destination_request(destination, connection, http_parameters or {}, payload)
    from localcloud.seams.core import current_account, current_region

    token_key = (current_account(), current_region(), connection_name)
    request["headers"] = eventbridge._finalize_api_dest_headers(
        {**request["headers"], **eventbridge._connection_auth_headers(connection, token_key)})
    return request, ""


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


def probe_put_events_keeps_time() -> bool:
    """True when an event put with a ``Time`` carries that time to its targets."""
    seen = []
    original = module()._dispatch_event

    def spy(event, view=None):
        seen.append(event.get("Time"))

    module()._dispatch_event = spy
    try:
        with request_scope(PROBE_ACCOUNT_A, PROBE_REGION):
            _call("_put_events", {"Entries": [{"Source": "localcloud.probe", "DetailType": "probe", "Detail": "{}",
                                               "Time": 946684800}]})
    finally:
        module()._dispatch_event = original
    return seen == [946684800]


def probe_compact_target_payloads() -> bool:
    """True when a rule target receives the event as compact JSON, as AWS sends it."""
    rendered = module()._render_input_template('{"v": <v>}', {"v": {"a": 1, "b": [1, 2]}})
    return rendered == '{"v": {"a":1,"b":[1,2]}}'


def probe_names_executions_after_events() -> bool:
    """Source level: does ministack name an execution a rule starts (it passes no name in 1.5.33)?"""
    import inspect

    return '"name"' in inspect.getsource(module()._dispatch_to_stepfunctions)


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
