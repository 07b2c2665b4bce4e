"""Lambda: invocation through ministack's Lambda API, its warm-worker and concurrency hooks."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from localcloud.seams.core import PROBE_ACCOUNT_A, PROBE_REGION, call_handler_sync, request_scope


def invoke(function_arn: str, payload: str, invocation_type: str = "RequestResponse", *, principal: str) -> bool:
    """Invoke through the Lambda API from a worker thread, as ``principal``; True when the function succeeded."""
    status, function_error, _body = invoke_for_result(function_arn, payload, invocation_type, principal=principal)
    return status < 300 and not function_error


def invoke_for_result(function_arn: str, payload: str, invocation_type: str = "RequestResponse", *,
                      principal: str) -> tuple[int, str | None, bytes]:
    """Invoke through the Lambda API from a worker thread, as ``principal``: (HTTP status,
    X-Amz-Function-Error or None, response payload)."""
    account, region = function_arn.split(":")[4], function_arn.split(":")[3]
    headers = {
        "content-type": "application/json",
        "x-amz-invocation-type": invocation_type,
        "authorization": f"AWS4-HMAC-SHA256 Credential={account}/20260101/{region}/lambda/aws4_request",
    }
    path = f"/2015-03-31/functions/{quote(function_arn, safe='')}/invocations"
    status, response_headers, body = call_handler_sync("lambda", account, region, "POST", path, headers,
                                                       payload.encode(), timeout=900, principal=principal)
    lowered = {k.lower(): v for k, v in (response_headers or {}).items()}
    return status, lowered.get("x-amz-function-error"), body or b""


def worker_ceiling() -> int:
    """ministack's per-function ceiling on warm worker processes (0: none)."""
    from ministack.core import lambda_runtime

    return int(getattr(lambda_runtime, "_LOCAL_MAX_WORKERS", 0) or 0)


def wrap_service_functions(wrappers: dict[str, Callable[[Callable], Callable]]) -> None:
    """Wrap functions ministack's Lambda service calls by module-global name:
    ``acquire_worker``/``release_worker`` (warm worker leases, imported from
    lambda_runtime), ``_acquire_execution_slot``/``_release_execution_slot``
    (concurrency accounting), ``_execute_function_dispatch(func, config, event, request_id,
    started)`` (one invocation, its logs written), ``_execute_function_warm(func, event,
    request_id)`` (a warm worker's answer as a result) and ``_emit_lambda_logs(func,
    request_id, log_text, error, duration_ms, *, log_source)``."""
    from ministack.services import lambda_svc

    for name, make_wrapper in wrappers.items():
        setattr(lambda_svc, name, make_wrapper(getattr(lambda_svc, name)))


def worker_ready_at(worker) -> float | None:
    """When a warm worker (execution environment) finished its init (epoch seconds), if known."""
    return getattr(worker, "_start_time", None)


def invocations_in_flight() -> int:
    from ministack.services import lambda_svc

    return lambda_svc.executions_in_flight()[0]


def function_policy(function_arn: str) -> dict | None:
    """The resource policy of a function (any qualifier), in its own account; None when there is no such function."""
    from ministack.services import lambda_svc


    parts = function_arn.split(":")
    with request_scope(parts[4], parts[3]):
        found = lambda_svc.function_policy_for_arn(function_arn)
    return None if found is None else (found[0] or {})


def wrap_code_location(make_wrapper: Callable[[Callable], Callable]) -> None:
    """Wrap ministack's ``_presigned_code_url(func_name) -> str``, GetFunction's Code.Location."""
    from ministack.services import lambda_svc

    lambda_svc._presigned_code_url = make_wrapper(lambda_svc._presigned_code_url)


def code_location_signature_is_fixed() -> bool:
    """Probe: does ministack sign every code URL with the same constant (so anyone may forge one)?"""
    from ministack.services import lambda_svc

    with request_scope(PROBE_ACCOUNT_A, PROBE_REGION):
        first, second = lambda_svc._presigned_code_url("probe"), lambda_svc._presigned_code_url("other")
    return first.rsplit("X-Amz-Signature=", 1)[-1] == second.rsplit("X-Amz-Signature=", 1)[-1]


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


def reap_idle_workers(idle_seconds: float) -> int:
    """Stop every warm worker (execution environment) unused for ``idle_seconds``, the
    first of each function's pool too (ministack's own reaper keeps that one for good);
    returns how many stopped."""
    import time

    from ministack.core import lambda_runtime

    now = time.time()
    doomed = []
    with lambda_runtime._lock:
        for key, pool in list(lambda_runtime._workers.items()):
            keep = [w for w in pool if w.in_use or now - getattr(w, "last_used", now) < idle_seconds]
            doomed += [w for w in pool if w not in keep]
            if keep:
                lambda_runtime._workers[key] = keep
            else:
                lambda_runtime._workers.pop(key, None)
    lambda_runtime.kill_workers(doomed)
    return len(doomed)


def wrap_execution(make_wrapper: Callable[[Callable], Callable]) -> None:
    """``_execute_function_with_config_scope(func, event)`` runs one invocation for the
    services that invoke a function in-process (CloudFormation custom resources, Step
    Functions, SNS, the Invoke API); it returns ``{"body", "error"?, "log"}``."""
    from ministack.services import lambda_svc

    lambda_svc._execute_function_with_config_scope = make_wrapper(lambda_svc._execute_function_with_config_scope)


# --- the local executor: warm worker processes ----------------------------------------

def _runtime():
    from ministack.core import lambda_runtime

    return lambda_runtime


def wrap_runtime_function(name: str, make_wrapper: Callable[[Callable], Callable]) -> None:
    """Wrap a function of ministack's worker pool looked up by name:
    ``_detect_runtime_binary(runtime) -> (binary, worker script)``."""
    module = _runtime()
    setattr(module, name, make_wrapper(getattr(module, name)))


def wrap_worker_method(name: str, make_wrapper: Callable[[Callable], Callable]) -> None:
    """Wrap a method of the warm worker: ``invoke(self, event, request_id, ...)`` returns the
    worker's answer ``{"status": "ok"|"error", "result"|"error"/"trace", "log", …}``."""
    worker_class = _runtime().Worker
    setattr(worker_class, name, make_wrapper(getattr(worker_class, name)))


def replace_runtime_module(name: str, replacement: object) -> None:
    """Give the worker pool its own view of a standard module it imports (``tempfile``,
    ``subprocess``): where it creates environments and how it starts them."""
    setattr(_runtime(), name, replacement)


def worker_protocol() -> dict:
    """Names the warm-worker protocol carries per invocation beside the payload."""
    runtime = _runtime()
    return {"depth_env": runtime.INVOKE_DEPTH_ENV, "depth_header": runtime.INVOKE_DEPTH_HEADER,
            "durable_env": list(runtime.DURABLE_ENV_VARS)}


def stop_workers() -> None:
    """End every warm worker process and remove its folder."""
    _runtime().reset()


def functions() -> list[dict]:
    """Every function's configuration, in every account and region."""
    from ministack.services import lambda_svc

    return [record.get("config") or record for record in lambda_svc._functions.all_values()]


def accepts_runtime(runtime: str) -> bool:
    """Probe: does ministack's CreateFunction accept ``runtime`` (in a scratch account)?"""
    import base64
    import io
    import zipfile

    from localcloud.seams.core import PROBE_ACCOUNT_A, PROBE_REGION, request_scope

    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("index.js", "exports.handler = async () => 1;")
    from ministack.services import lambda_svc

    name = "localcloud-probe-runtime"
    with request_scope(PROBE_ACCOUNT_A, PROBE_REGION):
        status, _headers, body = lambda_svc._create_function({
            "FunctionName": name, "Runtime": runtime, "Handler": "index.handler",
            "Role": f"arn:aws:iam::{PROBE_ACCOUNT_A}:role/probe",
            "Code": {"ZipFile": base64.b64encode(archive.getvalue()).decode()}})
        if status < 300:
            lambda_svc._delete_function(name, {})
    # Refused for another reason (strict IAM: the probe's role does not exist): not the runtime.
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    return status < 300 or runtime not in text


def log_capture_splits_lines() -> bool:
    """Probe (source level): does ministack write a function's output as one log event per
    line, with nothing a runtime could frame a multi-line record with?"""
    import inspect

    from ministack.services import lambda_svc

    return "splitlines()" in inspect.getsource(lambda_svc._emit_lambda_logs)


def environment_folders_in_system_tmp() -> bool:
    """Probe (source level): does a warm worker unpack its code into a folder the system's
    ``tempfile`` picks (the machine's /tmp), rather than one it is given?"""
    import inspect

    source = inspect.getsource(_runtime().Worker._spawn)
    return "tempfile.mkdtemp(" in source and "dir=" not in source.split("tempfile.mkdtemp(", 1)[1].split(")", 1)[0]


def nodejs_sdk_is_stubbed() -> bool:
    """Probe: is the AWS SDK in ministack's Node.js worker script a set of stubs?"""
    _binary, script = _runtime()._detect_runtime_binary("nodejs20.x")
    return "no stub for" in script


def python_root_logger_configured() -> bool:
    """Probe: does ministack's Python worker script give the root logger a handler, as AWS's
    runtime does (so ``logging.info`` in a function is written)?"""
    _binary, script = _runtime()._detect_runtime_binary("python3.12")
    return "addHandler" in script


# --- invocation as a Step Functions task: the raw result and AWS's error payload ----------

def find_function(function_ref: str) -> tuple[dict | None, dict | None, str]:
    """(function record, its effective configuration, its name) for a name, ARN or
    partial ARN in the current scope; the records are None when there is no such function."""
    from ministack.services import lambda_svc

    return lambda_svc._get_func_record_for_ref(function_ref)


def function_arn(config: dict) -> str:
    return config.get("FunctionArn", "")


def run_function(function: dict, config: dict, event) -> dict:
    """Invoke synchronously in-process; ministack's result: {"body", "error"?, "throttle"?, "log"?}."""
    from ministack.services import lambda_svc

    return lambda_svc._execute_function_with_config_scope(lambda_svc._execution_record_for_config(function, config),
                                                          event)


def result_body(result: dict):
    return result.get("body")


def result_failed(result: dict) -> bool:
    return bool(result.get("error"))


def result_throttled(result: dict) -> bool:
    return bool(result.get("throttle"))


# ministack's Python worker reports an unhandled exception as errorType "Runtime.HandlerError"
# and appends the traceback to the invocation's log; its own bootstrap is the first frame.
_GENERIC_ERROR_TYPE = "Runtime.HandlerError"
_WORKER_BOOTSTRAP = "/_worker.py"
_TRACEBACK_START = "Traceback (most recent call last):"


def _frames_and_exception(traceback_text: str) -> tuple[list[str], str]:
    lines = traceback_text.splitlines()[1:]
    frames, index = [], 0
    while index < len(lines) and lines[index].startswith("  File "):
        frame = lines[index] + "\n"
        index += 1
        code = None
        while index < len(lines) and lines[index].startswith("    "):
            stripped = lines[index].strip()
            if code is None and stripped and set(stripped) - set("^~"):
                code = lines[index]
            index += 1
        frames.append(frame + (code + "\n" if code else ""))
    return frames, "\n".join(lines[index:])


def unhandled_error(result: dict) -> dict | None:
    """The error payload the AWS Python runtime writes for an unhandled exception
    ({errorMessage, errorType, stackTrace}; the runtime's errorType is the exception
    class's name and the stack trace lists the function's own frames), recovered from
    ministack's result; None when the result is no such error or carries no traceback."""
    body = result.get("body")
    if not result.get("error") or not isinstance(body, dict):
        return None
    if body.get("errorType") != _GENERIC_ERROR_TYPE:
        return {k: body[k] for k in ("errorMessage", "errorType", "stackTrace") if k in body}
    log = result.get("log") or ""
    if _TRACEBACK_START not in log:
        return None
    frames, exception = _frames_and_exception(log[log.rindex(_TRACEBACK_START):])
    while frames and _WORKER_BOOTSTRAP in frames[0].split(",", 1)[0]:
        frames.pop(0)
    qualified = exception.split(":", 1)[0].strip() if exception else ""
    if not qualified or " " in qualified:
        return None
    return {"errorMessage": body.get("errorMessage", ""), "errorType": qualified.rsplit(".", 1)[-1],
            "stackTrace": frames}


def warm_executor():
    """ministack's executor for Python/Node.js functions in warm worker processes."""
    from ministack.services import lambda_svc

    return lambda_svc._execute_function_warm
