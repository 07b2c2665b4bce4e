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
* before an environment's first invocation, ``INIT_START Runtime Version: python:3.12.v<n>\tRuntime
  Version ARN: arn:aws:lambda:<region>::runtime:<hash>\n``, and ``Init Duration: <ms> ms\t`` at
  the end of that invocation's REPORT (AWS-recorded: LocalStack's
  tests/aws/services/lambda_/test_lambda.snapshot.json, log_events of a first and a second
  invocation); the version number and the ARN's hash are local placeholders (AWS's name the
  runtime build), the Init Duration is the time from the environment's process start to its
  runtime's "ready";
* to the stream of the execution environment that ran the invocation
  (``2026/11/23/[$LATEST]<32 hex>``), one stream per environment, in the function's log
  group (``LoggingConfig.LogGroup`` or ``/aws/lambda/<name>``).

Events go through the CloudWatch Logs API in-process (CreateLogGroup, CreateLogStream,
PutLogEvents), so subscription filters and everything else that reads a log group sees
them as it sees any other. The invocation's ``LogResult`` (``LogType: Tail``) is the same
text, as on AWS.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
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
_begun_streams: set[str] = set()  # environments whose first invocation was logged


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


def init_start_line(runtime: str, region: str) -> str | None:
    """AWS's INIT_START line for ``runtime`` (``python3.12`` -> ``python:3.12.v1``), None for a
    runtime the local cloud does not run itself."""
    match = re.fullmatch(r"(python)(\d+\.\d+)|(nodejs)(\d+)\.x", runtime or "")
    if not match:
        return None
    family, major = (match[1], match[2]) if match[1] else (match[3], match[4])
    build = hashlib.sha256(runtime.encode()).hexdigest()
    return (f"INIT_START Runtime Version: {family}:{major}.v1\t"
            f"Runtime Version ARN: arn:aws:lambda:{region}::runtime:{build}\n")


def invocation_events(request_id: str, version: str, output: str, duration_ms: float, memory_mb: int,
                      memory_used_mb: int, now_ms: int, init: tuple[int, float, str] | None = None,
                      ) -> list[tuple[int, str]]:
    """The invocation's events; ``init`` (when the environment started, its init's duration in
    ms, its INIT_START line) for an environment's first invocation."""
    started_ms = now_ms - int(duration_ms)
    # Duration is the handler's alone: the environment's init, which the local invocation's
    # time includes on a cold start, is its Init Duration (AWS-recorded: Duration 3.01 ms,
    # Init Duration 110.10 ms).
    handler_ms = max(0.0, duration_ms - init[1]) if init else duration_ms
    report = (f"REPORT RequestId: {request_id}\tDuration: {handler_ms:.2f} ms\t"
              f"Billed Duration: {max(1, math.ceil(duration_ms))} ms\tMemory Size: {memory_mb} MB\t"
              f"Max Memory Used: {memory_used_mb} MB\t")
    if init:
        report += f"Init Duration: {init[1]:.2f} ms\t"
    body = records.decode(output, started_ms)
    end_ms = max([now_ms] + [stamp for stamp, _message in body])
    return [*([(min(init[0], started_ms), init[2])] if init else []),
            (started_ms, f"START RequestId: {request_id} Version: {version}\n"), *body,
            (end_ms, f"END RequestId: {request_id}\n"), (end_ms, report + "\n")]


def _init_of(worker, stream: str | None, runtime: str) -> tuple[int, float, str] | None:
    """(start ms, init duration ms, INIT_START line) when ``stream``'s environment has not
    logged an invocation yet."""
    started = environments.started_at(stream) if stream else None
    ready = seams.awslambda.worker_ready_at(worker)
    line = init_start_line(runtime, seams.current_region())
    if started is None or ready is None or line is None:
        return None
    with _ready_lock:
        if stream in _begun_streams:
            return None
        _begun_streams.add(stream)
    return int(started * 1000), max(0.0, (ready - started) * 1000), line


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
    environment_stream = environments.log_stream_of(worker)
    stream = environment_stream or invocation_stream_name(version)
    init = _init_of(worker, environment_stream, config.get("Runtime", ""))
    events = invocation_events(request_id, version, output, duration_ms, int(config.get("MemorySize", 128)),
                               _memory_used_mb(worker), int(time.time() * 1000), init)
    _put(group, stream, events)
    # LogType=Tail: the invocation's log, START to REPORT.
    return "".join(message for _stamp, message in events[1 if init else 0:])


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
