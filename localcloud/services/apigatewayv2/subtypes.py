"""The first-class AWS service integrations: request parameter mapping and the service calls.

Subtypes served: SQS-SendMessage, EventBridge-PutEvents, StepFunctions-StartExecution.
"""

from __future__ import annotations

import json

from localcloud import seams
from localcloud.services import json_path


class MappingError(ValueError):
    """A request parameter mapping could not be evaluated for this request."""


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
        value = json_path.lookup(document, expression[len("$request.body."):])
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

def aws_error(status: int, code: str, message: str, request_id: str) -> tuple[int, dict]:
    # API Gateway passes the service's error response through (query-protocol JSON shape).
    return status, {"Error": {"Code": code, "Message": message, "Type": "Sender" if status < 500 else "Receiver"},
                    "RequestId": request_id}


def _error_code(body: dict) -> str:
    return str(body.get("__type", "InternalFailure")).rsplit("#", 1)[-1]


async def _sqs_send_message(params: dict, account: str, region: str, request_id: str,
                            principal: str) -> tuple[int, dict]:
    if not params.get("MessageBody"):
        return aws_error(400, "MissingParameter", "The request must contain the parameter MessageBody.", request_id)
    request = {k: v for k, v in params.items() if k in ("QueueUrl", "MessageBody", "DelaySeconds",
                                                        "MessageDeduplicationId", "MessageGroupId")}
    if "DelaySeconds" in request:
        request["DelaySeconds"] = int(request["DelaySeconds"])
    if params.get("MessageAttributes"):
        attributes = params["MessageAttributes"]
        request["MessageAttributes"] = json.loads(attributes) if isinstance(attributes, str) else attributes
    status, body = await seams.call_json_api("sqs", "SendMessage", account, region, request, principal=principal)
    if status >= 400:
        return aws_error(status, _error_code(body), body.get("message") or body.get("Message", ""), request_id)
    result = {"MD5OfMessageAttributes": body.get("MD5OfMessageAttributes"), "MD5OfMessageBody": body.get("MD5OfMessageBody"),
              "MD5OfMessageSystemAttributes": None, "MessageId": body.get("MessageId"),
              "SequenceNumber": body.get("SequenceNumber")}
    return 200, {"SendMessageResponse": {"ResponseMetadata": {"RequestId": request_id}, "SendMessageResult": result}}


async def _events_put_events(params: dict, account: str, region: str, request_id: str,
                             principal: str) -> tuple[int, dict]:
    entry = {k: params[k] for k in ("Detail", "DetailType", "Source", "EventBusName", "TraceHeader") if k in params}
    if "Resources" in params:
        resources = params["Resources"]
        entry["Resources"] = json.loads(resources) if isinstance(resources, str) and resources.startswith("[") else [resources]
    status, body = await seams.call_json_api("events", "PutEvents", account, region, {"Entries": [entry]},
                                             principal=principal)
    if status >= 400:
        return aws_error(status, _error_code(body), body.get("message", ""), request_id)
    return 200, body


async def _states_start_execution(params: dict, account: str, region: str, request_id: str,
                                 principal: str) -> tuple[int, dict]:
    # The integration's parameters are PascalCase; the Step Functions API is camelCase.
    request = {k[:1].lower() + k[1:]: params[k] for k in ("StateMachineArn", "Name", "Input", "TraceHeader") if k in params}
    status, body = await seams.call_json_api("states", "StartExecution", account, region, request,
                                             principal=principal)
    if status >= 400:
        return aws_error(status, _error_code(body), body.get("message", ""), request_id)
    return 200, body


SUBTYPES = {
    "SQS-SendMessage": _sqs_send_message,
    "EventBridge-PutEvents": _events_put_events,
    "StepFunctions-StartExecution": _states_start_execution,
}
