"""Lambda: invocation through ministack's Lambda API, its warm-worker and concurrency hooks."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from localcloud.seams.core import call_handler_sync


def invoke(function_arn: str, payload: str, invocation_type: str = "RequestResponse", *, principal: str) -> bool:
    """Invoke through the Lambda API from a worker thread, as ``principal``; True when the function succeeded."""
    account, region = function_arn.split(":")[4], function_arn.split(":")[3]
    headers = {
        "content-type": "application/json",
        "x-amz-invocation-type": invocation_type,
        "authorization": f"AWS4-HMAC-SHA256 Credential={account}/20260101/{region}/lambda/aws4_request",
    }
    path = f"/2015-03-31/functions/{quote(function_arn, safe='')}/invocations"
    status, response_headers, _body = call_handler_sync("lambda", account, region, "POST", path, headers,
                                                        payload.encode(), timeout=900, principal=principal)
    lowered = {k.lower(): v for k, v in (response_headers or {}).items()}
    return status < 300 and "x-amz-function-error" not in lowered


def worker_ceiling() -> int:
    """ministack's per-function ceiling on warm worker processes (0: none)."""
    from ministack.core import lambda_runtime

    return int(getattr(lambda_runtime, "_LOCAL_MAX_WORKERS", 0) or 0)


def wrap_service_functions(wrappers: dict[str, Callable[[Callable], Callable]]) -> None:
    """Wrap functions ministack's Lambda service calls by module-global name:
    ``acquire_worker``/``release_worker`` (warm worker leases, imported from
    lambda_runtime) and ``_acquire_execution_slot``/``_release_execution_slot``
    (concurrency accounting)."""
    from ministack.services import lambda_svc

    for name, make_wrapper in wrappers.items():
        setattr(lambda_svc, name, make_wrapper(getattr(lambda_svc, name)))


def invocations_in_flight() -> int:
    from ministack.services import lambda_svc

    return lambda_svc.executions_in_flight()[0]


def function_policy(function_arn: str) -> dict | None:
    """The resource policy of a function (any qualifier), in its own account; None when there is no such function."""
    from ministack.services import lambda_svc

    from localcloud.seams.core import request_scope

    parts = function_arn.split(":")
    with request_scope(parts[4], parts[3]):
        found = lambda_svc.function_policy_for_arn(function_arn)
    return None if found is None else (found[0] or {})


def wrap_log_writer(make_wrapper: Callable[[Callable], Callable]) -> None:
    """Wrap ministack's ``_emit_lambda_logs(func, request_id, log_text, error, duration_ms, *,
    log_source=None)``, which writes an invocation's output to its log group."""
    from ministack.services import lambda_svc

    lambda_svc._emit_lambda_logs = make_wrapper(lambda_svc._emit_lambda_logs)


def log_destination(func: dict) -> tuple[str, str, str, str]:
    """(execution role ARN, account, region, log group name) of a function record."""
    config = func.get("config") or func
    arn = config.get("FunctionArn", "")
    parts = arn.split(":")
    group = (config.get("LoggingConfig") or {}).get("LogGroup") or f"/aws/lambda/{config.get('FunctionName', '')}"
    return config.get("Role", ""), parts[4] if len(parts) > 4 else "", parts[3] if len(parts) > 3 else "", group
