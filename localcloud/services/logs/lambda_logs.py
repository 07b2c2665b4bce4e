"""A Lambda function's output, written to CloudWatch Logs as AWS writes it: one log stream
per execution environment, reused by every invocation that environment serves
(``2026/11/23/[$LATEST]<32 hex digits>``), one log event per line, between the START,
END and REPORT lines of each invocation.

ministack 1.5.33 writes every invocation to a stream of its own (so a log group holds as
many streams as invocations, and reading it slows as it grows) and splits the output
on every Unicode line boundary (U+2028, U+0085, …) where AWS splits on newlines.
https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs.html
"""

from __future__ import annotations

import logging
import time
import uuid
import weakref

from localcloud import capacity, seams
from localcloud.services.logs import events_api

logger = logging.getLogger("localcloud.logs")

_streams: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # warm worker -> its stream name


def _new_stream(qualifier: str) -> str:
    return f"{time.strftime('%Y/%m/%d', time.gmtime())}/[{qualifier}]{uuid.uuid4().hex}"


def stream_for(environment, qualifier: str) -> str:
    if environment is None:  # an executor without warm workers: a new environment every time
        return _new_stream(qualifier)
    name = _streams.get(environment)
    if name is None:
        name = _streams[environment] = _new_stream(qualifier)
    return name


def invocation_lines(request_id: str, qualifier: str, output: str, duration_ms: int, memory_mb: int,
                     max_memory_mb: int) -> list[str]:
    lines = output.split("\n") if output else []
    if lines and lines[-1] == "":
        lines.pop()
    lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    start = f"START RequestId: {request_id} Version: {qualifier}"
    end = f"END RequestId: {request_id}"
    report = (f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\tBilled Duration: "
              f"{max(1, int(duration_ms + 0.999))} ms\tMemory Size: {memory_mb} MB\tMax Memory Used: "
              f"{max_memory_mb} MB")
    if not any(line.startswith(start) for line in lines):
        lines.insert(0, start)
    if not any(line.startswith(end) for line in lines):
        lines.append(end)
    if not any(line.startswith(f"REPORT RequestId: {request_id}") for line in lines):
        lines.append(report)
    return lines


def write_invocation_logs(func: dict, request_id: str, log_text: str, error: bool, duration_ms: int, *,
                          log_source: str | None = None) -> None:
    """ministack's Lambda log writer's contract; never lets a logging failure fail the invocation."""
    environment = capacity.take_environment()
    try:
        config = func.get("config") or func
        qualifier = config.get("Version", "$LATEST")
        arn = config.get("FunctionArn") or ""
        parts = arn.split(":")
        account, region = (parts[4], parts[3]) if len(parts) > 5 else (seams.current_account(), seams.current_region())
        group = (config.get("LoggingConfig") or {}).get("LogGroup") or f"/aws/lambda/{config.get('FunctionName')}"
        lines = invocation_lines(request_id, qualifier, log_text or "", duration_ms, int(config.get("MemorySize", 128)),
                                 seams.logs.lambda_max_memory_used_mb(func))
        events_api.write(account, region, group, stream_for(environment, qualifier), lines)
    except Exception:
        logger.exception("writing the logs of %s failed", (func.get("config") or func).get("FunctionName"))
