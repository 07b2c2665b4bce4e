"""HTTP API (API Gateway v2) first-class AWS service integrations.

ministack 1.5.33 stores an AWS_PROXY integration's subtype as null and answers its
routes with 502 (it treats them as Lambda proxies). This extension keeps the full
integration definition (IntegrationSubtype, CredentialsArn, RequestParameters) as it is
created through the API or CloudFormation, and serves those routes itself on the same
port, in the URL forms ministack already parses:

    http://<apiId>.execute-api.localhost.localstack.cloud:4566/<path>
    http://127.0.0.1:4566/_aws/execute-api/<apiId>/<path>

Subtypes served: SQS-SendMessage, EventBridge-PutEvents, StepFunctions-StartExecution.
Everything else (Lambda proxies, HTTP proxies, unknown routes) is left to ministack.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl

from localcloud import seams
from localcloud.extensions import Extension, restore_tuple_keyed, tuple_keyed_state

logger = logging.getLogger("localcloud.http_api")

# API Gateway's own limit for an HTTP API request body.
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
CAPTURED_FIELDS = ("IntegrationSubtype", "CredentialsArn", "RequestParameters", "TimeoutInMillis")

_lock = threading.Lock()
# (account, region, api id) -> {integration id -> captured definition}
_integrations: dict[tuple[str, str, str], dict[str, dict]] = {}
# Access-log streams already created (one a stage a day): not re-created on every request.
_access_log_streams: set[tuple[str, str, str, str]] = set()


class MappingError(ValueError):
    """A request parameter mapping could not be evaluated for this request."""


# --- capture ---------------------------------------------------------------------------

def remember(account: str, region: str, api_id: str, integration_id: str, definition: dict) -> None:
    kept = {k: v for k, v in definition.items() if k in CAPTURED_FIELDS and v is not None}
    with _lock:
        if kept.get("IntegrationSubtype"):
            _integrations.setdefault((account, region, api_id), {})[integration_id] = kept
        else:
            _integrations.get((account, region, api_id), {}).pop(integration_id, None)


def forget(account: str, region: str, api_id: str, integration_id: str | None = None) -> None:
    with _lock:
        if integration_id is None:
            _integrations.pop((account, region, api_id), None)
        else:
            _integrations.get((account, region, api_id), {}).pop(integration_id, None)


def captured(account: str, region: str, api_id: str, integration_id: str) -> dict | None:
    return _integrations.get((account, region, api_id), {}).get(integration_id)


def _camel_to_pascal(body: dict) -> dict:
    return {key[:1].upper() + key[1:]: value for key, value in body.items()}


def _pascal_to_camel(definition: dict) -> dict:
    return {key[:1].lower() + key[1:]: value for key, value in definition.items()}


def _integration_path(path: str) -> tuple[str, str | None] | None:
    """(api id, integration id or None) for /v2/apis/{api}/integrations[/{id}]."""
    parts = path.strip("/").split("/")
    if len(parts) >= 4 and parts[0] == "v2" and parts[1] == "apis" and parts[3] == "integrations":
        return parts[2], (parts[4] if len(parts) > 4 else None)
    return None


def _wrap_apigateway_handler(original):
    async def handle(method, path, headers, body, query_params):
        status, response_headers, response = await original(method, path, headers, body, query_params)
        if status >= 400:
            return status, response_headers, response
        account, region = seams.current_account(), seams.current_region()
        parts = path.strip("/").split("/")
        if method == "DELETE" and len(parts) == 3 and parts[:2] == ["v2", "apis"]:
            forget(account, region, parts[2])
            return status, response_headers, response
        target = _integration_path(path)
        if target is None:
            return status, response_headers, response
        api_id, integration_id = target
        try:
            request = json.loads(body) if body else {}
            result = json.loads(response) if response else {}
        except ValueError:
            return status, response_headers, response
        if method == "POST" and integration_id is None:
            remember(account, region, api_id, result.get("integrationId", ""), _camel_to_pascal(request))
        elif method == "PATCH" and integration_id:
            merged = {**(captured(account, region, api_id, integration_id) or {}), **_camel_to_pascal(request)}
            remember(account, region, api_id, integration_id, merged)
        elif method == "DELETE" and integration_id:
            forget(account, region, api_id, integration_id)
            return status, response_headers, response
        # Reads return what was stored, as AWS does (ministack answers null for these fields).
        if isinstance(result.get("items"), list):
            for item in result["items"]:
                item.update(_pascal_to_camel(captured(account, region, api_id, item.get("integrationId", "")) or {}))
        elif result.get("integrationId"):
            result.update(_pascal_to_camel(captured(account, region, api_id, result["integrationId"]) or {}))
        return status, response_headers, json.dumps(result).encode()

    return handle


def _wrap_cfn_integration(handlers: dict) -> dict:
    create, update, delete = handlers["create"], handlers.get("update"), handlers["delete"]

    def on_create(logical_id, props, stack_name):
        physical_id, attrs = create(logical_id, props, stack_name)
        remember(seams.current_account(), seams.current_region(), props.get("ApiId", ""), physical_id, props)
        return physical_id, attrs

    def on_update(physical_id, old_props, new_props, stack_name, *logical_id):
        new_id, attrs = update(physical_id, old_props, new_props, stack_name, *logical_id)
        account, region = seams.current_account(), seams.current_region()
        if new_id != physical_id:
            forget(account, region, old_props.get("ApiId", ""), physical_id)
        remember(account, region, new_props.get("ApiId", ""), new_id, new_props)
        return new_id, attrs

    def on_delete(physical_id, props, *logical_id):
        delete(physical_id, props, *logical_id)
        forget(seams.current_account(), seams.current_region(), props.get("ApiId", ""), physical_id)

    wrapped = dict(handlers, create=on_create, delete=on_delete)
    if update:
        wrapped["update"] = on_update
    return wrapped


# --- request parameter mapping ------------------------------------------------------------

def _json_path(document: Any, path: str) -> Any:
    """$request.body.a.b[0] style paths (the subset HTTP API mappings use)."""
    current = document
    for token in path.replace("[", ".[").split("."):
        if not token:
            continue
        if token.startswith("[") and token.endswith("]"):
            index = int(token[1:-1])
            current = current[index] if isinstance(current, list) and -len(current) <= index < len(current) else None
        else:
            current = current.get(token) if isinstance(current, dict) else None
        if current is None:
            return None
    return current


def evaluate_mapping(expression: str, request: dict) -> str | None:
    """Value of one request parameter mapping, or None when the request lacks it."""
    if not isinstance(expression, str) or not expression.startswith("$"):
        return expression
    if expression == "$request.body":
        return request["body_text"]
    if expression.startswith("$request.body."):
        try:
            document = json.loads(request["body_text"])
        except (ValueError, TypeError):
            raise MappingError(f"{expression}: the request body is not JSON") from None
        value = _json_path(document, expression[len("$request.body."):])
        return value if value is None or isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    for prefix, source in (("$request.header.", "headers"), ("$request.querystring.", "query"),
                           ("$request.path.", "path_parameters"), ("$context.", "context"),
                           ("$stageVariables.", "stage_variables")):
        if expression.startswith(prefix):
            key = expression[len(prefix):]
            table = request[source]
            return table.get(key.lower() if source == "headers" else key)
    raise MappingError(f"unsupported mapping expression {expression}")


def map_parameters(definition: dict, request: dict) -> dict:
    mapped = {}
    for name, expression in (definition.get("RequestParameters") or {}).items():
        value = evaluate_mapping(expression, request)
        if value is not None:
            mapped[name] = value
    return mapped


# --- service calls ---------------------------------------------------------------------

def _aws_error(status: int, code: str, message: str, request_id: str) -> tuple[int, dict]:
    # API Gateway passes the service's error response through (query-protocol JSON shape).
    return status, {"Error": {"Code": code, "Message": message, "Type": "Sender" if status < 500 else "Receiver"},
                    "RequestId": request_id}


def _error_code(body: dict) -> str:
    return str(body.get("__type", "InternalFailure")).rsplit("#", 1)[-1]


async def _sqs_send_message(params: dict, account: str, region: str, request_id: str) -> tuple[int, dict]:
    if not params.get("MessageBody"):
        return _aws_error(400, "MissingParameter", "The request must contain the parameter MessageBody.", request_id)
    request = {k: v for k, v in params.items() if k in ("QueueUrl", "MessageBody", "DelaySeconds",
                                                        "MessageDeduplicationId", "MessageGroupId")}
    if "DelaySeconds" in request:
        request["DelaySeconds"] = int(request["DelaySeconds"])
    if params.get("MessageAttributes"):
        attributes = params["MessageAttributes"]
        request["MessageAttributes"] = json.loads(attributes) if isinstance(attributes, str) else attributes
    status, body = await seams.call_json_api("sqs", "SendMessage", account, region, request)
    if status >= 400:
        return _aws_error(status, _error_code(body), body.get("message") or body.get("Message", ""), request_id)
    result = {"MD5OfMessageAttributes": body.get("MD5OfMessageAttributes"), "MD5OfMessageBody": body.get("MD5OfMessageBody"),
              "MD5OfMessageSystemAttributes": None, "MessageId": body.get("MessageId"),
              "SequenceNumber": body.get("SequenceNumber")}
    return 200, {"SendMessageResponse": {"ResponseMetadata": {"RequestId": request_id}, "SendMessageResult": result}}


async def _events_put_events(params: dict, account: str, region: str, request_id: str) -> tuple[int, dict]:
    entry = {k: params[k] for k in ("Detail", "DetailType", "Source", "EventBusName", "TraceHeader") if k in params}
    if "Resources" in params:
        resources = params["Resources"]
        entry["Resources"] = json.loads(resources) if isinstance(resources, str) and resources.startswith("[") else [resources]
    status, body = await seams.call_json_api("events", "PutEvents", account, region, {"Entries": [entry]})
    if status >= 400:
        return _aws_error(status, _error_code(body), body.get("message", ""), request_id)
    return 200, body


async def _states_start_execution(params: dict, account: str, region: str, request_id: str) -> tuple[int, dict]:
    # The integration's parameters are PascalCase; the Step Functions API is camelCase.
    request = {k[:1].lower() + k[1:]: params[k] for k in ("StateMachineArn", "Name", "Input", "TraceHeader") if k in params}
    status, body = await seams.call_json_api("states", "StartExecution", account, region, request)
    if status >= 400:
        return _aws_error(status, _error_code(body), body.get("message", ""), request_id)
    return 200, body


SUBTYPES = {
    "SQS-SendMessage": _sqs_send_message,
    "EventBridge-PutEvents": _events_put_events,
    "StepFunctions-StartExecution": _states_start_execution,
}


# --- data plane ------------------------------------------------------------------------

def _json_response(status: int, document: dict, request_id: str) -> tuple[int, list, bytes]:
    body = json.dumps(document, separators=(",", ":")).encode()
    return status, [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                    (b"apigw-requestid", request_id.encode())], body


async def _read_body(receive, limit: int) -> tuple[bytes, bool] | None:
    """(body, too large); None when the client went away. Past ``limit`` the rest is
    drained, not kept."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks), size > limit


def _query_parameters(scope: dict) -> dict[str, str]:
    """First value of each query parameter, percent-decoded."""
    query: dict[str, str] = {}
    for key, value in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True):
        query.setdefault(key, value)
    return query


async def _send(send, status: int, headers: list, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def serve_request(scope, receive, send) -> bool:
    """Serve an HTTP API request addressed to any account's API.

    ministack resolves an execute-api URL in the caller's own account only, so an
    unsigned `curl` never reaches an API deployed in another account; API ids are
    unique, so the owner is found by id, as on LocalStack and AWS."""
    if scope["type"] != "http":
        return False
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
    parsed = seams.parse_execute_api_url(headers.get("host", ""), scope["path"])
    if parsed is None:
        return False
    api_id, stage, path = parsed
    owner = seams.http_api_owner(api_id)
    if owner is None:
        return False
    account, region = owner
    method = scope["method"]
    if method == "OPTIONS":
        return False  # CORS preflight: ministack answers from the API's CORS configuration
    started = time.time()
    request_id = base64.b64encode(os.urandom(11)).decode()[:16]
    route: dict = {}

    async def respond(status: int, document: dict, integration_status: int | None = None, error: str = "") -> bool:
        status_code, response_headers, body = _json_response(status, document, request_id)
        await _send(send, status_code, response_headers, body)
        _write_access_log(account, region, api_id, stage, scope, headers, route, status_code, len(body),
                          integration_status, error, request_id, started)
        return True

    with seams.request_scope(account, region):
        stage, path = seams.resolve_stage_and_path(api_id, stage, path)
        route_path = "/" + path.lstrip("/")
        if not seams.http_api_stage_exists(api_id, stage):
            return await respond(404, {"message": "Not Found"})
        route = seams.http_api_route(api_id, method, route_path) or {}
    if not route:
        return await respond(404, {"message": "Not Found"})
    integration_id = route.get("target", "").replace("integrations/", "").split("/")[-1]
    definition = captured(account, region, api_id, integration_id)
    authorization = (route.get("authorizationType") or "NONE").upper()
    received = await _read_body(receive, MAX_PAYLOAD_BYTES)
    if received is None:
        return True
    body, too_large = received
    if too_large:
        return await respond(413, {"message": "Request Entity Too Large"})
    if definition is None or definition.get("IntegrationSubtype") not in SUBTYPES or authorization not in ("NONE", "AWS_IAM"):
        # Not one of ours (a Lambda or HTTP proxy, a JWT route): ministack serves it, in the owner's scope.
        with seams.request_scope(account, region):
            status, response_headers, response = await seams.http_api_execute(
                api_id, stage, route_path, method, headers, body, _query_parameters(scope))
        encoded = [(k.lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in response_headers.items()]
        await _send(send, status, encoded, response if isinstance(response, bytes) else str(response).encode())
        return True
    if authorization == "AWS_IAM" and not headers.get("authorization", "").startswith("AWS4-HMAC-SHA256"):
        return await respond(403, {"message": "Forbidden"})
    try:
        body_text = body.decode("utf-8")
    except UnicodeDecodeError:
        return await respond(*_aws_error(400, "InvalidMessageContents",
                                         "Invalid binary character in message body: not UTF-8.", request_id))
    request = {
        "body_text": body_text,
        "headers": headers,
        "query": _query_parameters(scope),
        "path_parameters": seams.http_api_path_parameters(route.get("routeKey", ""), route_path),
        "context": {"requestId": request_id, "apiId": api_id, "stage": stage, "httpMethod": method,
                    "routeKey": route.get("routeKey", ""), "identity.sourceIp": (scope.get("client") or ("",))[0],
                    "requestTimeEpoch": str(int(started * 1000)), "path": route_path},
        "stage_variables": {},
    }
    try:
        params = map_parameters(definition, request)
    except MappingError as error:
        logger.warning("api %s: %s", api_id, error)
        return await respond(400, {"message": "Bad Request"})
    if not definition.get("CredentialsArn"):
        # AWS refuses to create such an integration; a hand-made one fails at run time.
        return await respond(500, {"message": "Internal Server Error"}, error="integration has no CredentialsArn")
    status, document = await SUBTYPES[definition["IntegrationSubtype"]](params, account, region, request_id)
    return await respond(status, document, integration_status=status,
                         error=document.get("Error", {}).get("Message", "") if status >= 400 else "")


def _write_access_log(account, region, api_id, stage, scope, headers, route, status, length, integration_status,
                      error, request_id, started) -> None:
    settings = seams.http_api_access_log_settings(account, region, api_id, stage)
    if not settings or not settings.get("destinationArn") or not settings.get("format"):
        return
    values = {
        "requestId": request_id, "identity.sourceIp": (scope.get("client") or ("",))[0],
        "requestTime": datetime.fromtimestamp(started, timezone.utc).strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "httpMethod": scope["method"], "routeKey": route.get("routeKey", ""), "status": str(status),
        "protocol": f"HTTP/{scope.get('http_version', '1.1')}", "responseLength": str(length),
        "integrationStatus": "" if integration_status is None else str(integration_status),
        "integrationErrorMessage": error, "apiId": api_id, "stage": stage,
        "path": scope["path"], "domainName": headers.get("host", ""),
    }
    line = settings["format"]
    for key in sorted(values, key=len, reverse=True):
        line = line.replace(f"$context.{key}", values[key].replace('"', '\\"'))
    group = settings["destinationArn"].split(":log-group:", 1)[-1].split(":", 1)[0]
    stream = f"{stage}-{datetime.now(timezone.utc):%Y-%m-%d}"
    put = {"logGroupName": group, "logStreamName": stream,
           "logEvents": [{"timestamp": int(started * 1000), "message": line}]}
    with seams.request_scope(account, region):
        if (account, region, group, stream) in _access_log_streams and seams.logs_action("PutLogEvents", put)[0] < 400:
            return
        # First line of the day, or the group was recreated since: (re)create the stream.
        seams.logs_action("CreateLogStream", {"logGroupName": group, "logStreamName": stream})
        if seams.logs_action("PutLogEvents", put)[0] < 400:
            _access_log_streams.add((account, region, group, stream))


# --- extension -------------------------------------------------------------------------

def state() -> dict:
    with _lock:
        return {"integrations": tuple_keyed_state(_integrations)}


def restore(data: dict) -> None:
    with _lock:
        restore_tuple_keyed(_integrations, data.get("integrations", []))


def needed() -> bool:
    """ministack answers an SQS-SendMessage route with 502 and stores no subtype; a
    release that keeps IntegrationSubtype serves these integrations itself."""
    return not seams.http_api_keeps_integration_subtype()


def install() -> None:
    seams.wrap_service_handler("apigateway", _wrap_apigateway_handler)
    table = seams.cfn_resource_handlers()
    table["AWS::ApiGatewayV2::Integration"] = _wrap_cfn_integration(table["AWS::ApiGatewayV2::Integration"])


EXTENSION = Extension(name="http_api_integrations", needed=needed, install=install, state=state, restore=restore,
                      data_plane=serve_request)
