"""Every point where our extensions touch ministack, in one file.

Upgrading ministack means re-checking this file only. We use its registries (the
service-handler table, the CloudFormation resource-handler table), its public helpers
(request scoping, persistence, the ESM-style SQS receive/delete pair, execute-api URL
parsing) and its AWS APIs called in-process. Where a behaviour has no registry (event
delivery to another account's bus), we wrap the one module function that performs it
and delegate to the original for everything we do not change. No ministack code is
copied here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

logger = logging.getLogger("localcloud")

ServiceHandler = Callable[[str, str, dict, bytes, dict], Awaitable[tuple[int, dict, bytes]]]


def ministack_app():
    from ministack import app

    return app


def ministack_version() -> str:
    from importlib.metadata import version

    return version("ministack")


# --- registries ---------------------------------------------------------------------

def service_handler(service: str) -> ServiceHandler:
    return ministack_app().SERVICE_HANDLERS[service]


def wrap_service_handler(service: str, make_wrapper: Callable[[ServiceHandler], ServiceHandler]) -> None:
    """Replace ministack's handler for ``service`` with ``make_wrapper(original)``."""
    handlers = ministack_app().SERVICE_HANDLERS
    handlers[service] = make_wrapper(handlers[service])


def cfn_resource_handlers() -> dict[str, dict]:
    from ministack.services.cloudformation.provisioners import _RESOURCE_HANDLERS

    return _RESOURCE_HANDLERS


# --- request scope and persistence ---------------------------------------------------

def request_scope(account_id: str, region: str):
    from ministack.core.responses import request_scope as scope

    return scope(account_id, region)


def current_account() -> str:
    from ministack.core.responses import get_account_id

    return get_account_id()


def current_region() -> str:
    from ministack.core.responses import get_region

    return get_region()


def persistence_enabled() -> bool:
    from ministack.core import persistence

    return persistence.PERSIST_STATE


def save_state(name: str, data: dict) -> None:
    from ministack.core import persistence

    persistence.save_state(name, data)


def load_state(name: str) -> dict | None:
    from ministack.core import persistence

    return persistence.load_state(name)


# --- calling ministack's AWS APIs in-process ----------------------------------------

_JSON_PROTOCOL = {
    # service: (signing name, X-Amz-Target prefix, content type)
    "events": ("events", "AWSEvents", "application/x-amz-json-1.1"),
    "sqs": ("sqs", "AmazonSQS", "application/x-amz-json-1.0"),
    "logs": ("logs", "Logs_20140328", "application/x-amz-json-1.1"),
    "states": ("states", "AWSStepFunctions", "application/x-amz-json-1.0"),
    "lambda": ("lambda", "", "application/json"),
}


def json_request(service: str, action: str, account: str, region: str, payload: dict) -> tuple[str, str, dict, bytes]:
    signing_name, prefix, content_type = _JSON_PROTOCOL[service]
    headers = {
        "content-type": content_type,
        "x-amz-target": f"{prefix}.{action}",
        "authorization": (
            f"AWS4-HMAC-SHA256 Credential={account}/20260101/{region}/{signing_name}/aws4_request, "
            "SignedHeaders=host, Signature=0"
        ),
        "host": f"{signing_name}.{region}.amazonaws.com",
    }
    return "POST", "/", headers, json.dumps(payload).encode()


def _decode(status: int, body: bytes) -> tuple[int, dict]:
    try:
        return status, (json.loads(body) if body else {})
    except ValueError:
        return status, {"raw": body.decode("utf-8", "replace")}


async def call_json_api(service: str, action: str, account: str, region: str, payload: dict,
                        handler: ServiceHandler | None = None) -> tuple[int, dict]:
    """Call ``service``'s ``action`` on the event loop, as ``account`` in ``region``."""
    method, path, headers, body = json_request(service, action, account, region, payload)
    with request_scope(account, region):
        status, _headers, response = await (handler or service_handler(service))(method, path, headers, body, {})
    return _decode(status, response)


def call_json_api_sync(service: str, action: str, account: str, region: str, payload: dict,
                       handler: ServiceHandler | None = None, timeout: float = 30.0) -> tuple[int, dict]:
    """Same as :func:`call_json_api`, from a worker thread (pollers, CloudFormation)."""
    app = ministack_app()
    method, path, headers, body = json_request(service, action, account, region, payload)
    target = handler or service_handler(service)

    async def scoped(*args):
        with request_scope(account, region):
            return await target(*args)

    status, _headers, response = app.call_service_handler_sync(scoped, method, path, headers, body, {}, timeout=timeout)
    return _decode(status, response)


# --- SQS: the receive/delete pair ministack provides for in-process pollers ------------

def sqs_receive_for_poller(queue_url: str, max_messages: int) -> list[dict]:
    from ministack.services import sqs

    return sqs._receive_messages_for_esm(queue_url, max_messages)


def sqs_delete_for_poller(queue_url: str, receipt_handles: set[str]) -> None:
    from ministack.services import sqs

    sqs._delete_messages_for_esm(queue_url, receipt_handles)


def sqs_queue_url_for_arn(queue_arn: str) -> str | None:
    from ministack.services import sqs

    queue = sqs._queue_by_arn(queue_arn)
    return queue.get("url") if queue else None


# --- EventBridge internals without a registry ----------------------------------------

def eventbridge_module():
    from ministack.services import eventbridge

    return eventbridge


def event_bus_exists(name: str) -> bool:
    return name in eventbridge_module()._event_buses


def event_bus_policy(name: str) -> dict | None:
    return eventbridge_module()._event_bus_policies.get(name)


def set_event_bus_policy_statement(bus_name: str, statement: dict) -> None:
    policies = eventbridge_module()._event_bus_policies
    policy = policies.get(bus_name) or {"Version": "2012-10-17", "Statement": []}
    policy["Statement"] = [s for s in policy["Statement"] if s.get("Sid") != statement.get("Sid")] + [statement]
    policies[bus_name] = policy


def remove_event_bus_policy_statement(bus_name: str, sid: str) -> None:
    policies = eventbridge_module()._event_bus_policies
    policy = policies.get(bus_name)
    if not policy:
        return
    policy["Statement"] = [s for s in policy["Statement"] if s.get("Sid") != sid]
    if not policy["Statement"]:
        del policies[bus_name]


def dispatch_on_bus(event: dict) -> None:
    """Match ``event`` against the rules of its bus (current scope) and archive it."""
    module = eventbridge_module()
    module._dispatch_event(event)
    archived = {k: v for k, v in event.items() if k != "_DispatchPath"}
    module._archive_event(archived)


def rule_key(rule: dict) -> str:
    module = eventbridge_module()
    return module._rule_key(rule.get("Name"), rule.get("EventBusName", "default"))


def wrap_eventbridge_function(name: str, make_wrapper: Callable[[Callable], Callable]) -> None:
    module = eventbridge_module()
    setattr(module, name, make_wrapper(getattr(module, name)))


def new_event_id() -> str:
    from ministack.core.responses import new_uuid

    return new_uuid()


# --- API Gateway v2 (HTTP APIs) -------------------------------------------------------

def parse_execute_api_url(host: str, path: str) -> tuple[str, str, str] | None:
    return ministack_app()._parse_execute_api_url(host, path)


def resolve_stage_and_path(api_id: str, stage: str, path: str) -> tuple[str, str]:
    return ministack_app()._resolve_stage_and_path(api_id, stage, path)


def http_api_route(api_id: str, method: str, path: str) -> dict | None:
    """The route an HTTP API would select (call inside the API's request scope)."""
    from ministack.services import apigateway

    return apigateway._match_route(api_id, method, path)


def http_api_stage_exists(api_id: str, stage: str) -> bool:
    from ministack.services import apigateway

    return stage in (apigateway._stages.get(api_id) or {})


def http_api_path_parameters(route_key: str, path: str) -> dict:
    from ministack.services import apigateway

    parts = route_key.split(" ", 1)
    return (apigateway._extract_path_params(parts[1], path) or {}) if len(parts) == 2 else {}


def wrap_event_target_invoker(make_wrapper: Callable[[Callable], Callable]) -> None:
    """``_invoke_target(target, event, rule, view=None)`` delivers to one rule target."""
    wrap_eventbridge_function("_invoke_target", make_wrapper)


def delivered_event(event: dict) -> dict:
    """The event exactly as EventBridge hands it to a target."""
    return eventbridge_module()._pattern_event_view(event).event_with_detail()


# --- CloudWatch Logs ------------------------------------------------------------------

def logs_action(action: str, payload: dict) -> tuple[int, dict]:
    """Run a CloudWatch Logs API action synchronously in the current request scope."""
    from ministack.services import cloudwatch_logs

    handler = {"CreateLogStream": cloudwatch_logs._create_log_stream,
               "PutLogEvents": cloudwatch_logs._put_log_events}[action]
    status, _headers, body = handler(payload)
    return _decode(status, body)


def http_api_access_log_settings(account: str, region: str, api_id: str, stage: str) -> dict | None:
    from ministack.services import apigateway

    with request_scope(account, region):
        record = (apigateway._stages.get(api_id) or {}).get(stage) or {}
    return record.get("accessLogSettings")


def http_api_keeps_integration_subtype() -> bool:
    """Probe: does ministack store an integration's subtype (and so serve it)?"""
    from ministack.services import apigateway

    with request_scope("000000000000", "us-east-1"):
        _status, _headers, body = apigateway._create_api({"name": "localcloud-probe", "protocolType": "HTTP"})
        api_id = json.loads(body)["apiId"]
        try:
            apigateway._create_integration(api_id, {"integrationType": "AWS_PROXY",
                                                    "integrationSubtype": "SQS-SendMessage",
                                                    "payloadFormatVersion": "1.0"})
            items = json.loads(apigateway._get_integrations(api_id)[2]).get("items") or []
            return bool(items) and items[0].get("integrationSubtype") == "SQS-SendMessage"
        finally:
            apigateway._delete_api(api_id)


def pattern_matches(pattern: str, document: dict) -> bool:
    """EventBridge pattern semantics (as ministack implements them) on any JSON object."""
    module = eventbridge_module()
    alternatives = module._compiled_pattern(pattern)
    return bool(alternatives) and any(module._matches_detail(document, alt) for alt in alternatives)


def render_input_template(template: str, values: dict[str, Any]) -> str:
    """Fill ``<name>`` placeholders the way EventBridge input transformers do."""
    return eventbridge_module()._render_input_template(template, values)


def sqs_message_record(message: dict, queue_arn: str, region: str) -> dict:
    """An SQS message (as the poller receive returns it) in the record shape AWS pollers
    (Lambda event source mappings, Pipes) deliver."""
    system = message.get("sys") or {}
    attributes = {
        "ApproximateReceiveCount": str(message.get("receive_count", 1)),
        "SentTimestamp": system.get("SentTimestamp", str(int(message.get("sent_at", 0) * 1000))),
        "SenderId": system.get("SenderId", ""),
        "ApproximateFirstReceiveTimestamp": str(int((message.get("first_receive_at") or 0) * 1000)),
    }
    for key in ("MessageGroupId", "MessageDeduplicationId", "SequenceNumber"):
        if system.get(key):
            attributes[key] = system[key]
    return {
        "messageId": message["id"],
        "receiptHandle": message["receipt_handle"],
        "body": message["body"],
        "attributes": attributes,
        "messageAttributes": message.get("message_attributes") or {},
        "md5OfBody": message.get("md5_body", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def pipes_module():
    from ministack.services import pipes

    return pipes


def invoke_lambda(function_arn: str, payload: str, invocation_type: str = "RequestResponse") -> bool:
    """Invoke through the Lambda API from a worker thread; True when the function succeeded."""
    from urllib.parse import quote

    account, region = function_arn.split(":")[4], function_arn.split(":")[3]
    headers = {
        "content-type": "application/json",
        "x-amz-invocation-type": invocation_type,
        "authorization": f"AWS4-HMAC-SHA256 Credential={account}/20260101/{region}/lambda/aws4_request, "
                         "SignedHeaders=host, Signature=0",
    }
    path = f"/2015-03-31/functions/{quote(function_arn, safe='')}/invocations"
    target = service_handler("lambda")

    async def scoped(*args):
        with request_scope(account, region):
            return await target(*args)

    status, response_headers, _body = ministack_app().call_service_handler_sync(
        scoped, "POST", path, headers, payload.encode(), {}, timeout=900)
    lowered = {k.lower(): v for k, v in (response_headers or {}).items()}
    return status < 300 and "x-amz-function-error" not in lowered


def pipes_keep_source_parameters() -> bool:
    """Probe: does ministack keep a pipe's SourceParameters (and so run such pipes)?"""
    pipes = pipes_module()
    with request_scope("000000000000", "us-east-1"):
        name = "localcloud-probe"
        pipes._create_pipe(name, {
            "Source": "arn:aws:sqs:us-east-1:000000000000:localcloud-probe",
            "Target": "arn:aws:sqs:us-east-1:000000000000:localcloud-probe-target",
            "RoleArn": "arn:aws:iam::000000000000:role/probe",
            "DesiredState": "STOPPED",
            "SourceParameters": {"SqsQueueParameters": {"BatchSize": 1}},
        })
        try:
            described = json.loads(pipes._describe_pipe(name)[2])
            return bool(described.get("SourceParameters"))
        finally:
            pipes.delete_pipe(name)


def events_action(action: str, payload: dict) -> tuple[int, dict]:
    """Run an EventBridge API action synchronously in the current request scope (usable
    from CloudFormation provisioners, which may run on the event loop)."""
    module = eventbridge_module()
    handler = {"CreateArchive": module._create_archive, "UpdateArchive": module._update_archive,
               "DeleteArchive": module._delete_archive, "DescribeEventBus": module._describe_event_bus}[action]
    status, _headers, body = handler(payload)
    return _decode(status, body)


def http_api_owner(api_id: str) -> tuple[str, str] | None:
    """(account, region) of the HTTP API ``api_id`` in any account (ids are unique)."""
    from ministack.services import apigateway

    for (account, region, stored_api_id), _api in apigateway._apis.all_items():
        if stored_api_id == api_id:
            return account, region
    return None


async def http_api_execute(api_id, stage, path, method, headers, body, query_params):
    """ministack's own HTTP API data plane (Lambda and HTTP proxies), current scope."""
    from ministack.services import apigateway

    return await apigateway.handle_execute(api_id, stage, path, method, headers, body,
                                           {k: [v] for k, v in query_params.items()})


# --- Step Functions ---------------------------------------------------------------------

def stepfunctions_module():
    from ministack.services import stepfunctions

    return stepfunctions


def execution_pause_seconds() -> float | None:
    """The fixed pause ministack's execution thread takes before running a state machine
    (0.15 s in 1.5.33), read from its source; None when there is none."""
    import inspect
    import re

    source = inspect.getsource(stepfunctions_module()._run_execution)
    match = re.search(r"time\.sleep\(([0-9.]+)\)", source)
    return float(match.group(1)) if match else None


def is_express_execution(exec_arn: str) -> bool:
    module = stepfunctions_module()
    execution = module._executions.get(exec_arn) or {}
    machine = module._state_machines.get(execution.get("stateMachineArn", "")) or {}
    return machine.get("type") == "EXPRESS"


def replace_stepfunctions_clock(make_clock: Callable[[Any], Any]) -> None:
    """Give ministack's Step Functions module a clock of our own (wrapping ``time``)."""
    module = stepfunctions_module()
    module.time = make_clock(module.time)


def organization_of(account: str) -> str | None:
    """The organization ``account`` is a member of on this local cloud, if any: ministack
    keeps each management account's organization and member accounts in its own scope."""
    from ministack.services import organizations

    for (manager, member), record in organizations._accounts.to_dict().items():
        if account in (member, record.get("Id")):
            org = organizations._orgs.get_scoped(manager, "", "self")
            if org:
                return org.get("Id")
    return None


def set_event_bus_policy(bus_name: str, policy: dict) -> None:
    eventbridge_module()._event_bus_policies[bus_name] = policy


def event_bus_name_from_ref(ref: str) -> tuple[str, tuple[str, str] | None]:
    """ministack's reading of an EventBusName (name or same-scope ARN): (name, error)."""
    return eventbridge_module()._event_bus_name_from_ref(ref or "default")


# --- probes: does ministack already do the job? ------------------------------------------
# Each runs ministack's own EventBridge actions in scratch accounts, before any extension
# is installed, and removes what it made.

_PROBE_A, _PROBE_B, _PROBE_REGION = "000000000901", "000000000902", "us-east-1"


def _events_call(name: str, payload: dict) -> dict:
    status, _headers, body = getattr(eventbridge_module(), name)(payload)
    return json.loads(body) if body else {}


def probe_cross_account_bus_delivery() -> bool:
    """True when a rule whose target is another account's bus delivers there."""
    target_arn = f"arn:aws:events:{_PROBE_REGION}:{_PROBE_B}:event-bus/localcloud-probe"
    try:
        with request_scope(_PROBE_B, _PROBE_REGION):
            _events_call("_create_event_bus", {"Name": "localcloud-probe"})
            _events_call("_put_rule", {"Name": "probe-in", "EventBusName": "localcloud-probe",
                                       "EventPattern": json.dumps({"source": ["localcloud.probe"]})})
            _events_call("_put_targets", {"Rule": "probe-in", "EventBusName": "localcloud-probe", "Targets": [
                {"Id": "q", "Arn": f"arn:aws:sqs:{_PROBE_REGION}:{_PROBE_B}:localcloud-probe-missing"}]})
            _events_call("_put_permission", {"EventBusName": "localcloud-probe", "StatementId": "probe",
                                             "Principal": _PROBE_A, "Action": "events:PutEvents"})
        with request_scope(_PROBE_A, _PROBE_REGION):
            _events_call("_put_rule", {"Name": "probe-out", "EventPattern": json.dumps({"source": ["localcloud.probe"]})})
            _events_call("_put_targets", {"Rule": "probe-out", "Targets": [
                {"Id": "b", "Arn": target_arn, "RoleArn": f"arn:aws:iam::{_PROBE_A}:role/probe"}]})
            delivered = []
            original = eventbridge_module()._dispatch_event

            def spy(event, view=None):
                if event.get("EventBusName") == "localcloud-probe":
                    delivered.append(event)
                return original(event, view)

            eventbridge_module()._dispatch_event = spy
            try:
                _events_call("_put_events", {"Entries": [{"Source": "localcloud.probe", "DetailType": "probe",
                                                          "Detail": "{}"}]})
            finally:
                eventbridge_module()._dispatch_event = original
        return bool(delivered)
    finally:
        with request_scope(_PROBE_A, _PROBE_REGION):
            _events_call("_remove_targets", {"Rule": "probe-out", "Ids": ["b"]})
            _events_call("_delete_rule", {"Name": "probe-out"})
        with request_scope(_PROBE_B, _PROBE_REGION):
            _events_call("_remove_targets", {"Rule": "probe-in", "EventBusName": "localcloud-probe", "Ids": ["q"]})
            _events_call("_delete_rule", {"Name": "probe-in", "EventBusName": "localcloud-probe"})
            _events_call("_remove_permission", {"EventBusName": "localcloud-probe", "RemoveAllPermissions": True})
            _events_call("_delete_event_bus", {"Name": "localcloud-probe"})


def probe_log_group_targets() -> bool:
    """True when a rule whose target is a log group writes the event to it."""
    from ministack.services import cloudwatch_logs

    group = "/localcloud/probe"
    with request_scope(_PROBE_A, _PROBE_REGION):
        cloudwatch_logs._create_log_group({"logGroupName": group})
        try:
            _events_call("_put_rule", {"Name": "probe-log", "EventPattern": json.dumps({"source": ["localcloud.probe"]})})
            _events_call("_put_targets", {"Rule": "probe-log", "Targets": [
                {"Id": "l", "Arn": f"arn:aws:logs:{_PROBE_REGION}:{_PROBE_A}:log-group:{group}"}]})
            _events_call("_put_events", {"Entries": [{"Source": "localcloud.probe", "DetailType": "probe", "Detail": "{}"}]})
            streams = cloudwatch_logs._log_groups.get(group, {}).get("streams", {})
            return bool(streams)
        finally:
            _events_call("_remove_targets", {"Rule": "probe-log", "Ids": ["l"]})
            _events_call("_delete_rule", {"Name": "probe-log"})
            cloudwatch_logs._delete_log_group({"logGroupName": group})


def probe_secret_ref_is_arn() -> bool:
    """True when ministack's CloudFormation secret's physical id (its Ref) is the ARN."""
    handlers = cfn_resource_handlers()["AWS::SecretsManager::Secret"]
    with request_scope(_PROBE_A, _PROBE_REGION):
        physical_id, _attrs = handlers["create"]("Probe", {"Name": "localcloud-probe-secret",
                                                           "SecretString": "probe"}, "localcloud-probe")
        handlers["delete"](physical_id, {"Name": "localcloud-probe-secret"})
    return physical_id.startswith("arn:")


# --- Lambda warm workers ------------------------------------------------------------------

def lambda_worker_ceiling() -> int:
    """ministack's per-function ceiling on warm worker processes (0: none)."""
    from ministack.core import lambda_runtime

    return int(getattr(lambda_runtime, "_LOCAL_MAX_WORKERS", 0) or 0)


def wrap_lambda_service_functions(wrappers: dict[str, Callable[[Callable], Callable]]) -> None:
    """Wrap functions ministack's Lambda service calls by module-global name:
    ``acquire_worker``/``release_worker`` (warm worker leases, imported from
    lambda_runtime) and ``_acquire_execution_slot``/``_release_execution_slot``
    (concurrency accounting)."""
    from ministack.services import lambda_svc

    for name, make_wrapper in wrappers.items():
        setattr(lambda_svc, name, make_wrapper(getattr(lambda_svc, name)))


def wrap_stepfunctions_function(name: str, make_wrapper: Callable[[Callable], Callable]) -> None:
    """``_run_execution(exec_arn)`` is the body of every execution thread, looked up by
    name when ``_start_execution`` starts one."""
    module = stepfunctions_module()
    setattr(module, name, make_wrapper(getattr(module, name)))


def running_executions() -> list[str]:
    """ARNs of executions ministack records as RUNNING, in every account and region."""
    return [execution.get("executionArn", "") for execution in stepfunctions_module()._executions.all_values()
            if execution.get("status") == "RUNNING"]


def lambda_invocations_in_flight() -> int:
    from ministack.services import lambda_svc

    return lambda_svc.executions_in_flight()[0]


def finished_express_executions() -> list[tuple[str, str]]:
    """(stopDate, ARN) of every finished EXPRESS execution ministack still holds."""
    module = stepfunctions_module()
    machines = {m.get("stateMachineArn"): m.get("type") for m in module._state_machines.all_values()}
    return [(execution.get("stopDate") or "", execution.get("executionArn", ""))
            for execution in module._executions.all_values()
            if execution.get("status") != "RUNNING" and machines.get(execution.get("stateMachineArn")) == "EXPRESS"]


def forget_executions(arns: set[str]) -> None:
    store = stepfunctions_module()._executions
    for scoped_key, execution in store.all_items():
        if execution.get("executionArn") in arns:
            store.pop_scoped(scoped_key[0], scoped_key[1], scoped_key[2], None)


def trim_event_log(keep: int) -> int:
    """ministack appends every event put on any bus to an internal list no API reads;
    keep its newest ``keep`` entries per account and region. Returns how many went."""
    removed = 0
    for _scoped_key, entries in eventbridge_module()._events_log.all_items():
        if isinstance(entries, list) and len(entries) > keep:
            removed += len(entries) - keep
            del entries[: len(entries) - keep]
    return removed


def stepfunctions_prunes_executions() -> bool:
    """Probe (source level): does ministack drop finished executions as it starts or ends
    them (a retention limit), rather than only when their state machine is deleted?"""
    import inspect

    module = stepfunctions_module()
    source = inspect.getsource(module._start_execution) + inspect.getsource(module._run_execution)
    return any(marker in source for marker in ("_executions.pop(", "del _executions[", "_executions.pop_scoped("))
