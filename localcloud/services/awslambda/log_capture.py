"""A function's log events as AWS writes them to CloudWatch Logs.

ministack 1.5.33 splits a function's output on every line boundary (a multi-line
``console.log`` becomes one event per line; U+2028 splits too) and writes the platform lines
without their newline. AWS writes:

* ``START RequestId: <id> Version: $LATEST\\n``, each record the runtime framed as one event
  (a Node.js ``console.log`` call, a Python error report), any other output one event per
  line with its newline, ``END RequestId: <id>\\n`` and
  ``REPORT RequestId: <id>\\tDuration: 26.73 ms\\tBilled Duration: 27 ms\\tMemory Size: 128 MB\\tMax Memory Used: 75 MB\\t\\n``
  (https://docs.aws.amazon.com/lambda/latest/dg/nodejs-logging.html and the
  ``get-log-events`` output in the Lambda developer guide);
* to the stream of the execution environment that ran the invocation
  (``2026/11/23/[$LATEST]<32 hex>``), one stream per environment, in the function's log
  group (``LoggingConfig.LogGroup`` or ``/aws/lambda/<name>``).

Events go through the CloudWatch Logs API in-process (CreateLogGroup, CreateLogStream,
PutLogEvents), so subscription filters and everything else that reads a log group sees
them as it sees any other. The invocation's ``LogResult`` (``LogType: Tail``) is the same
text, as on AWS.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from datetime import datetime, timezone

from localcloud import seams
from localcloud.extension import Extension
from localcloud.services.awslambda import environments, invocations, records

logger = logging.getLogger("localcloud.lambda_logs")

_rendered = threading.local()  # the last invocation's log text, for its LogResult
_ready_streams: set[tuple[str, str, str, str]] = set()
_ready_lock = threading.Lock()


def invocation_stream_name(version: str) -> str:
    now = datetime.now(timezone.utc)
    return f"{now:%Y/%m/%d}/[{version}]{uuid.uuid4().hex}"


def _memory_used_mb(worker) -> int:
    """Peak resident memory of the environment's process (what REPORT calls Max Memory Used)."""
    process = getattr(worker, "_proc", None)
    try:
        with open(f"/proc/{process.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return max(1, int(line.split()[1]) // 1024)
    except (AttributeError, OSError, ValueError):
        pass
    return 0


def invocation_events(request_id: str, version: str, output: str, duration_ms: float, memory_mb: int,
                      memory_used_mb: int, now_ms: int) -> list[tuple[int, str]]:
    started_ms = now_ms - int(duration_ms)
    report = (f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
              f"Billed Duration: {max(1, math.ceil(duration_ms))} ms\tMemory Size: {memory_mb} MB\t"
              f"Max Memory Used: {memory_used_mb} MB\t\n")
    body = records.decode(output, started_ms)
    end_ms = max([now_ms] + [stamp for stamp, _message in body])
    return [(started_ms, f"START RequestId: {request_id} Version: {version}\n"), *body,
            (end_ms, f"END RequestId: {request_id}\n"), (end_ms, report)]


def _put(group: str, stream: str, events: list[tuple[int, str]]) -> None:
    key = (seams.current_account(), seams.current_region(), group, stream)
    put = {"logGroupName": group, "logStreamName": stream,
           "logEvents": [{"timestamp": stamp, "message": message} for stamp, message in events]}
    with _ready_lock:
        ready = key in _ready_streams
    if ready and seams.logs.action("PutLogEvents", put)[0] < 400:
        return
    # A new stream, or its group was deleted since: create what is missing, then write.
    seams.logs.action("CreateLogGroup", {"logGroupName": group})
    seams.logs.action("CreateLogStream", {"logGroupName": group, "logStreamName": stream})
    status, body = seams.logs.action("PutLogEvents", put)
    if status >= 400:
        logger.warning("log events for %s/%s not written: %s", group, stream, body)
        return
    with _ready_lock:
        _ready_streams.add(key)


def write_invocation_log(func: dict, request_id: str, output: str, duration_ms: float) -> str:
    """Write one invocation's events; returns them as text (the invocation's LogResult)."""
    config = func.get("config") or func
    name = config.get("FunctionName", "unknown")
    version = config.get("Version", "$LATEST")
    group = (config.get("LoggingConfig") or {}).get("LogGroup") or f"/aws/lambda/{name}"
    worker, _answer = invocations.last_answer(request_id)
    stream = environments.log_stream_of(worker) or invocation_stream_name(version)
    events = invocation_events(request_id, version, output, duration_ms, int(config.get("MemorySize", 128)),
                               _memory_used_mb(worker), int(time.time() * 1000))
    _put(group, stream, events)
    return "".join(message for _stamp, message in events)


def _emit(emit_lambda_logs):
    def emit(func, request_id, log_text, error, duration_ms, *, log_source=None):
        if log_source == "rie":  # a container's runtime wrote AWS's lines itself
            return emit_lambda_logs(func, request_id, log_text, error, duration_ms, log_source=log_source)
        try:
            _rendered.value = (request_id, write_invocation_log(func, request_id, log_text or "", duration_ms))
        except Exception:  # logs must never fail an invocation
            logger.exception("writing the log of invocation %s failed", request_id)

    return emit


def _log_result_is_the_log(dispatch):
    def dispatch_and_render(func, config, event, request_id, started):
        _rendered.value = None
        result = dispatch(func, config, event, request_id, started)
        rendered = getattr(_rendered, "value", None)
        if rendered and rendered[0] == request_id and isinstance(result, dict):
            result["log"] = rendered[1]
        return result

    return dispatch_and_render


def needed() -> bool:
    """ministack writes one event per output line, framing nothing (source probe)."""
    return seams.awslambda.log_capture_splits_lines()


def install() -> None:
    invocations.install_recorder()
    seams.awslambda.wrap_service_functions({"_emit_lambda_logs": _emit,
                                            "_execute_function_dispatch": _log_result_is_the_log})


EXTENSION = Extension(name="lambda_log_events", needed=needed, install=install)
