"""Lambda tasks fail with the error names AWS gives, so Retry and Catch match as on AWS.

ministack 1.5.33 fails every Lambda task whose function raised with the error
"Runtime.HandlerError" (its Python worker does not report the exception's class) and a
throttled invocation with "Lambda.Unknown". AWS, for both the optimised integration
(``arn:aws:states:::lambda:invoke``) and the function ARN as the Resource:

* an unhandled exception: error = the runtime's errorType (the exception class's name,
  e.g. ``CustomException``), cause = the runtime's error payload as JSON:
  {"errorMessage", "errorType", "requestId", "stackTrace"} (compact through the
  optimised integration, with Python's ", "/": " spacing through the function ARN);
* no such function: ``Lambda.ResourceNotFoundException``, "Function not found: <arn>:$LATEST
  (Service: AWSLambda; Status Code: 404; Error Code: ResourceNotFoundException; ...)";
* a throttle: ``Lambda.TooManyRequestsException`` (the error AWS documents for Lambda
  tasks, which our workflow's Retry names).

The function is invoked as the state machine's role (``lambda:InvokeFunction``, checked by
localcloud.auth); a refusal is ``Lambda.AWSLambdaException`` with Lambda's 403 message.

Sources: LocalStack snapshots recorded on AWS: v2/error_handling/test_task_lambda.snapshot.json,
test_task_service_lambda.snapshot.json, express/test_express_async.snapshot.json (test_catch,
test_retry); https://docs.aws.amazon.com/step-functions/latest/dg/connect-lambda.html and
https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html
"""

from __future__ import annotations

import contextvars
import inspect
import json

from localcloud import auth, seams
from localcloud.extension import Extension
from localcloud.services.states import running

OPTIMISED_RESOURCE = "arn:aws:states:::lambda:invoke"

_optimised: contextvars.ContextVar[bool] = contextvars.ContextVar("localcloud_lambda_optimised", default=False)


def _service_error(message: str, status: int, code: str) -> str:
    return (f"{message} (Service: AWSLambda; Status Code: {status}; Error Code: {code}; "
            f"Request ID: {seams.new_id()}; Proxy: null)")


def _qualified_arn(function_ref: str) -> str:
    if function_ref.startswith("arn:"):
        return function_ref if function_ref.count(":") >= 7 else f"{function_ref}:$LATEST"
    return f"arn:aws:lambda:{seams.current_region()}:{seams.current_account()}:function:{function_ref}:$LATEST"


def error_cause(payload: dict, optimised: bool) -> str:
    if optimised:
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return json.dumps(payload)


def runtime_error_payload(result: dict) -> dict:
    """The runtime's error payload, with the invocation's request id where AWS puts it."""
    recovered = seams.awslambda.unhandled_error(result)
    body = seams.awslambda.result_body(result)
    if recovered is None:
        recovered = dict(body) if isinstance(body, dict) else {"errorMessage": str(body), "errorType": "Lambda.Unknown"}
    payload = {"errorMessage": recovered.get("errorMessage", ""), "errorType": recovered.get("errorType", "")}
    payload["requestId"] = seams.new_id()
    if "stackTrace" in recovered:
        payload["stackTrace"] = recovered["stackTrace"]
    return payload


def _acting_role() -> str | None:
    record = running.current_execution()
    machine = seams.states.execution_machine(record) if record else None
    return seams.states.machine_role(machine) if machine else None


def call_lambda(function_ref, event):
    optimised = _optimised.get()
    function, config, _name = seams.awslambda.find_function(function_ref)
    if function is None or config is None:
        raise seams.states.execution_error("Lambda.ResourceNotFoundException", _service_error(
            f"Function not found: {_qualified_arn(str(function_ref))}", 404, "ResourceNotFoundException"))
    role = _acting_role()
    if role:
        try:
            auth.require(role, "lambda:InvokeFunction", seams.awslambda.function_arn(config))
        except auth.AccessDenied as denied:
            raise seams.states.execution_error("Lambda.AWSLambdaException",
                                               _service_error(denied.message, 403, denied.code)) from None
    result = seams.awslambda.run_function(function, config, event)
    if seams.awslambda.result_throttled(result):
        raise seams.states.execution_error("Lambda.TooManyRequestsException",
                                           _service_error("Rate Exceeded.", 429, "TooManyRequestsException"))
    if seams.awslambda.result_failed(result):
        payload = runtime_error_payload(result)
        raise seams.states.execution_error(payload["errorType"], error_cause(payload, optimised))
    body = seams.awslambda.result_body(result)
    if isinstance(body, str | bytes):
        try:
            return json.loads(body)
        except ValueError:
            return body
    return body


def _wrap_invoke(original):
    def invoke(resource, *args):
        token = _optimised.set(isinstance(resource, str) and resource.startswith(OPTIMISED_RESOURCE))
        try:
            return original(resource, *args)
        finally:
            _optimised.reset(token)

    return invoke


def needed() -> bool:
    """Does ministack's Python worker report unhandled exceptions as Runtime.HandlerError?"""
    return '"Runtime.HandlerError"' in inspect.getsource(seams.awslambda.warm_executor())


def install() -> None:
    running.track()
    seams.states.wrap_function("_call_lambda", lambda _original: call_lambda)
    seams.states.wrap_function("_invoke_resource", _wrap_invoke)
    seams.states.wrap_function("_invoke_with_callback", _wrap_invoke)


EXTENSION = Extension(name="states_lambda_errors", needed=needed, install=install)
