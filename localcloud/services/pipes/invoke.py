"""Calling what a pipe enriches with or delivers to, when it answers: Lambda, Step
Functions, API destinations and API Gateway (as enrichment or target).

Lambda and Step Functions receive the whole batch as one JSON array; API destinations
and API Gateway one event a request ("batching to enrichment is supported for AWS
Lambda and AWS Step Functions").
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-batching-concurrency.html
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

from localcloud import seams
from localcloud.services import json_path
from localcloud.services.pipes.pipe_logs import error_detail
from localcloud.services.pipes.templates import parsed_view

HTTP_TIMEOUT_S = 5  # API destinations' client execution timeout


@dataclass
class Result:
    ok: bool
    response: object = None  # the parsed answer (an enrichment's output)
    request: object = None  # as logged in awsRequest
    raw_response: object = None  # as logged in awsResponse
    error: dict | None = None
    failed_indexes: set[int] = field(default_factory=set)  # batch APIs: entries that failed
    item_failures: list | None = None  # batchItemFailures' itemIdentifier values, as returned


def failure(message: str, **detail) -> Result:
    return Result(False, error=error_detail(message, **detail))


def _parse(body: bytes | str):
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def item_failures_of(response) -> list | None:
    """batchItemFailures' identifiers, when the answer reports a partial failure."""
    if isinstance(response, dict) and isinstance(response.get("batchItemFailures"), list):
        return [f.get("itemIdentifier") if isinstance(f, dict) else None for f in response["batchItemFailures"]]
    return None


def lambda_function(arn: str, payload: str, synchronous: bool = True, *, principal: str) -> Result:
    status, function_error, body = seams.awslambda.invoke_for_result(
        arn, payload, "RequestResponse" if synchronous else "Event", principal=principal)
    answer = _parse(body)
    if status >= 300:
        message = answer.get("message") or answer.get("Message") if isinstance(answer, dict) else str(answer)
        return Result(False, request=payload, raw_response=body.decode("utf-8", "replace"), error=error_detail(
            message or f"Lambda answered HTTP {status}", status=status, service="lambda", resource_arn=arn))
    if function_error:
        message = answer.get("errorMessage", "") if isinstance(answer, dict) else str(answer)
        kind = answer.get("errorType", function_error) if isinstance(answer, dict) else function_error
        return Result(False, request=payload, raw_response=body.decode("utf-8", "replace"), error=error_detail(
            message, status=200, service="lambda", exception_type=kind, resource_arn=arn))
    return Result(True, response=answer, request=payload, raw_response=body.decode("utf-8", "replace"),
                  item_failures=item_failures_of(answer))


def state_machine(arn: str, payload: str, synchronous: bool, *, principal: str) -> Result:
    account, region = arn.split(":")[4], arn.split(":")[3]
    action = "StartSyncExecution" if synchronous else "StartExecution"
    status, body = seams.call_json_api_sync("states", action, account, region, {"stateMachineArn": arn,
                                                                                   "input": payload},
                                            principal=principal)
    if status >= 400:
        return Result(False, request=payload, raw_response=body, error=error_detail(
            body.get("message") or body.get("Message") or str(body), status=status, service="states",
            exception_type=body.get("__type", ""), resource_arn=arn))
    if synchronous and body.get("status") != "SUCCEEDED":
        return Result(False, request=payload, raw_response=body, error=error_detail(
            f"Execution {body.get('status')}: {body.get('error', '')} {body.get('cause', '')}".strip(),
            status=200, service="states", exception_type=body.get("error", ""), resource_arn=arn))
    answer = _parse(body.get("output", "")) if synchronous else None
    return Result(True, response=answer, request=payload, raw_response=body, item_failures=item_failures_of(answer))


# --- HTTP: API destinations and API Gateway --------------------------------------------------

def dynamic(value, event):
    """Target and enrichment parameters may name a JSON path of the event ("$.body.id")."""
    if isinstance(value, str) and value.startswith("$."):
        found = json_path.lookup(parsed_view(event), value)
        return found if isinstance(found, str) else json.dumps(found) if found is not None else ""
    return value


def _http_parameters(parameters: dict, event) -> dict:
    return {
        "PathParameterValues": [dynamic(v, event) for v in parameters.get("PathParameterValues") or []],
        "HeaderParameters": {k: dynamic(v, event) for k, v in (parameters.get("HeaderParameters") or {}).items()},
        "QueryStringParameters": {k: dynamic(v, event) for k, v in
                                  (parameters.get("QueryStringParameters") or {}).items()},
    }


def _api_gateway_request(arn: str, parameters: dict, payload: str) -> dict:
    """arn:aws:execute-api:<region>:<account>:<api-id>/<stage>/<METHOD>/<path> on this local cloud."""
    api_id, stage, method, *path = arn.split(":", 5)[5].split("/")
    values = iter(parameters["PathParameterValues"])
    resource = "/".join(next(values, "") if part == "*" else part for part in path)
    port = os.environ.get("LOCALCLOUD_PORT") or os.environ.get("GATEWAY_PORT") or "4566"
    url = f"http://127.0.0.1:{port}/_aws/execute-api/{api_id}/{stage}/{resource}"
    if parameters["QueryStringParameters"]:
        url += "?" + urllib.parse.urlencode(parameters["QueryStringParameters"])
    # Signed as the API's account, as Pipes signs the call with the pipe's role.
    account, region = arn.split(":")[4], arn.split(":")[3]
    headers = {"Content-Type": "application/json", **parameters["HeaderParameters"],
               "Authorization": f"AWS4-HMAC-SHA256 Credential={account}/20260101/{region}/execute-api/aws4_request, "
                                "SignedHeaders=host, Signature=0"}
    return {"url": url, "method": "POST" if method in ("*", "ANY", "") else method, "headers": headers,
            "body": payload}


def http(kind: str, arn: str, parameters: dict, payload: str, event) -> Result:
    """One request to an API destination or an API Gateway stage."""
    http_parameters = _http_parameters(parameters or {}, event)
    if kind == "api-destination":
        request, reason = seams.events.api_destination_request(arn, http_parameters, payload)
        if request is None:
            return failure(reason, status=404, service="events", resource_arn=arn)
    else:
        request = _api_gateway_request(arn, http_parameters, payload)
    logged = {"method": request["method"], "url": request["url"], "headers": request["headers"],
              "body": request["body"]}
    body = request["body"].encode() if request["body"] is not None and request["method"] not in ("GET", "HEAD") \
        else None
    outgoing = urllib.request.Request(request["url"], data=body, headers=request["headers"], method=request["method"])
    try:
        with urllib.request.urlopen(outgoing, timeout=HTTP_TIMEOUT_S) as answer:
            status, content = answer.status, answer.read()
    except urllib.error.HTTPError as refused:
        status, content = refused.code, refused.read()
    except (urllib.error.URLError, OSError) as unreachable:
        return Result(False, request=logged, error=error_detail(f"Connection error: {unreachable}", status=502,
                                                                service=kind, resource_arn=arn))
    text = content.decode("utf-8", "replace")
    responded = {"statusCode": status, "body": text}
    if not 200 <= status < 300:
        return Result(False, request=logged, raw_response=responded, error=error_detail(
            f"Endpoint answered HTTP {status}: {text[:256]}", status=status, service=kind, resource_arn=arn))
    answer = _parse(text)
    return Result(True, response=answer, request=logged, raw_response=responded,
                  item_failures=item_failures_of(answer))

