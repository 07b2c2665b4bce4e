"""An HTTP API's data plane for routes with first-class AWS service integrations.

Served on the local cloud's own port, in the URL forms ministack already parses:

    http://<apiId>.execute-api.localhost.localstack.cloud:4566/<path>
    http://127.0.0.1:4566/_aws/execute-api/<apiId>/<path>

Everything else (Lambda proxies, HTTP proxies, JWT routes) is left to ministack's own
data plane, in the API owner's scope.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from datetime import datetime, timezone
from urllib.parse import parse_qsl

from localcloud import auth, seams
from localcloud.services.apigatewayv2.integrations import captured
from localcloud.services.apigatewayv2.subtypes import SUBTYPES, MappingError, aws_error, map_parameters

logger = logging.getLogger("localcloud.http_api")

# Access-log streams already created (one a stage a day): not re-created on every request.
_access_log_streams: set[tuple[str, str, str, str]] = set()


def _json_response(status: int, document: dict, request_id: str) -> tuple[int, list, bytes]:
    body = json.dumps(document, separators=(",", ":")).encode()
    return status, [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                    (b"apigw-requestid", request_id.encode())], body


async def _whole_body(receive) -> bytes | None:
    """The request's body; None when the client went away. The gateway has read it whole
    within API Gateway's 10 MB (413 past it) before any data plane sees the request."""
    message = await receive()
    return None if message["type"] == "http.disconnect" else message.get("body", b"")


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
    parsed = seams.apigatewayv2.parse_execute_api_url(headers.get("host", ""), scope["path"])
    if parsed is None:
        return False
    api_id, stage, path = parsed
    owner = seams.apigatewayv2.owner(api_id)
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
        stage, path = seams.apigatewayv2.resolve_stage_and_path(api_id, stage, path)
        route_path = "/" + path.lstrip("/")
        if not seams.apigatewayv2.stage_exists(api_id, stage):
            return await respond(404, {"message": "Not Found"})
        route = seams.apigatewayv2.route(api_id, method, route_path) or {}
    if not route:
        return await respond(404, {"message": "Not Found"})
    integration_id = route.get("target", "").replace("integrations/", "").split("/")[-1]
    definition = captured(account, region, api_id, integration_id)
    authorization = (route.get("authorizationType") or "NONE").upper()
    body = await _whole_body(receive)
    if body is None:
        return True
    if definition is None or definition.get("IntegrationSubtype") not in SUBTYPES or authorization not in ("NONE", "AWS_IAM"):
        # Not one of ours (a Lambda or HTTP proxy, a JWT route): ministack serves it, in the owner's scope.
        with seams.request_scope(account, region):
            status, response_headers, response = await seams.apigatewayv2.execute(
                api_id, stage, route_path, method, headers, body, _query_parameters(scope))
        encoded = [(k.lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in response_headers.items()]
        await _send(send, status, encoded, response if isinstance(response, bytes) else str(response).encode())
        return True
    if authorization == "AWS_IAM":
        refused = _iam_authorization(scope, body, account, region, api_id, stage, method, route_path)
        if refused:
            return await respond(403, {"message": refused})
    try:
        body_text = body.decode("utf-8")
    except UnicodeDecodeError:
        return await respond(*aws_error(400, "InvalidMessageContents",
                                         "Invalid binary character in message body: not UTF-8.", request_id))
    request = {
        "body_text": body_text,
        "headers": headers,
        "query": _query_parameters(scope),
        "path_parameters": seams.apigatewayv2.path_parameters(route.get("routeKey", ""), route_path),
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
    try:
        # API Gateway assumes the integration's role, then calls the service as that role.
        principal = auth.acting_role("apigateway.amazonaws.com", definition["CredentialsArn"],
                                     **{"aws:SourceAccount": account})
    except auth.AccessDenied as denied:
        logger.warning("api %s: API Gateway may not assume %s: %s", api_id, definition["CredentialsArn"], denied)
        return await respond(500, {"message": "Internal Server Error"},
                             error="Execution failed due to configuration error: API Gateway does not have "
                                   "permission to assume the provided role")
    status, document = await SUBTYPES[definition["IntegrationSubtype"]](params, account, region, request_id,
                                                                        principal=principal)
    return await respond(status, document, integration_status=status,
                         error=document.get("Error", {}).get("Message", "") if status >= 400 else "")


def _iam_authorization(scope, body: bytes, account: str, region: str, api_id: str, stage: str, method: str,
                       route_path: str) -> str | None:
    """Why an AWS_IAM route refuses the request (SigV4 checked, then execute-api:Invoke for
    the signer), or None when it may go on."""
    raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
    caller, failure = auth.signed_caller(scope["method"], raw_path, scope.get("query_string", b"").decode("latin-1"),
                                         scope.get("headers", []), body)
    if caller is None:
        return "Forbidden" if failure[0] == "MissingAuthenticationToken" else failure[1]
    resource = f"arn:aws:execute-api:{region}:{account}:{api_id}/{stage}/{method}{route_path}"
    decision = auth.decide(caller, "execute-api:Invoke", resource, {})
    return None if decision.allowed else decision.message


def _write_access_log(account, region, api_id, stage, scope, headers, route, status, length, integration_status,
                      error, request_id, started) -> None:
    settings = seams.apigatewayv2.access_log_settings(account, region, api_id, stage)
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
        if (account, region, group, stream) in _access_log_streams and seams.logs.action("PutLogEvents", put)[0] < 400:
            return
        # First line of the day, or the group was recreated since: (re)create the stream.
        seams.logs.action("CreateLogStream", {"logGroupName": group, "logStreamName": stream})
        if seams.logs.action("PutLogEvents", put)[0] < 400:
            _access_log_streams.add((account, region, group, stream))
