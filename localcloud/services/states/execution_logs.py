"""Execution history in the state machine's log group, as Step Functions writes it.

ministack 1.5.33 keeps each execution's history to itself and writes nothing to the log
group a state machine's LoggingConfiguration names. AWS writes one log event per history
event, filtered by ``level`` (ALL; ERROR: failures and the Fail state; FATAL: the
execution's own failure, abort or timeout; OFF: nothing), with input and output only when
``includeExecutionData`` is true, in this shape:

  {"id": "3", "type": "PassStateExited", "details": {"name": ..., "output": "...",
   "outputDetails": {"truncated": false}}, "previous_event_id": "2",
   "event_timestamp": "1718022871123", "execution_arn": "...", "redrive_count": "0"}

For EXPRESS workflows this is the only record of an execution. Task events carry AWS's
names: a function ARN as Resource gives LambdaFunctionScheduled/Started/Succeeded/Failed,
an optimised integration gives TaskScheduled/Started/Succeeded/Failed with resourceType
and resource split as ``lambda``/``invoke``. Escaped input or output over 248 KiB is
truncated and marked so.

Sources: https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html (levels, the
248 KiB truncation); LocalStack snapshots recorded on AWS: v2/logs/test_logs.snapshot.json
(test_base, test_partial_log_levels), express/test_express_async.snapshot.json,
error_handling/test_task_lambda.snapshot.json, test_task_service_lambda.snapshot.json.
The log stream's name is ours (one stream per state machine and minute); AWS's is not
pinned here.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from datetime import datetime

from localcloud import seams
from localcloud.extension import Extension
from localcloud.services.states import running
from localcloud.services.states.payload_limits import compact_json

logger = logging.getLogger("localcloud.states.logs")

TRUNCATE_AT_BYTES = 248 * 1024
FATAL_TYPES = {"ExecutionAborted", "ExecutionFailed", "ExecutionTimedOut"}
ERROR_TYPES = FATAL_TYPES | {
    "FailStateEntered", "LambdaFunctionFailed", "LambdaFunctionScheduleFailed", "LambdaFunctionStartFailed",
    "LambdaFunctionTimedOut", "MapStateAborted", "MapStateFailed", "MapIterationAborted", "MapIterationFailed",
    "MapRunAborted", "MapRunFailed", "ParallelStateAborted", "ParallelStateFailed", "TaskFailed",
    "TaskStartFailed", "TaskStateAborted", "TaskSubmitFailed", "TaskTimedOut", "WaitStateAborted",
    "ActivityFailed", "ActivityScheduleFailed", "ActivityTimedOut",
}
_LAMBDA_FUNCTION_ARN = re.compile(r"^arn:[^:]+:lambda:[^:]*:\d{12}:function:")
_INTEGRATION = re.compile(r"^arn:[^:]+:states:::(aws-sdk:[^:]+|[^:]+):(.+)$")


def _payload(text, include: bool, key: str) -> dict:
    """``{key: text, key+"Details": {"truncated": ...}}`` when data is included, else {}."""
    if not include or text is None:
        return {}
    text = compact_json(text) if isinstance(text, str) else json.dumps(text, separators=(",", ":"))
    encoded = text.encode()
    truncated = len(encoded) > TRUNCATE_AT_BYTES
    if truncated:
        text = encoded[:TRUNCATE_AT_BYTES].decode(errors="ignore")
    return {key: text, f"{key}Details": {"truncated": truncated}}


def _task_resource(resource: str) -> tuple[str, str] | None:
    """(resourceType, resource) of an optimised integration: ("lambda", "invoke")."""
    match = _INTEGRATION.match(resource or "")
    return (match.group(1), match.group(2)) if match else None


def _task_records(event: dict, include: bool, region: str) -> list[tuple[str, dict]]:
    """AWS's task events for one of ministack's TaskScheduled/TaskSucceeded/TaskFailed."""
    kind = event["type"]
    details = event.get({"TaskScheduled": "taskScheduledEventDetails", "TaskSucceeded": "taskSucceededEventDetails",
                         "TaskFailed": "taskFailedEventDetails"}[kind]) or {}
    resource = details.get("resource", "")
    failure = {"cause": details.get("cause", ""), "error": details.get("error", "")}
    if _LAMBDA_FUNCTION_ARN.match(resource):
        if kind == "TaskScheduled":
            return [("LambdaFunctionScheduled", {**_payload(details.get("parameters"), include, "input"),
                                                 "resource": resource}),
                    ("LambdaFunctionStarted", {})]
        if kind == "TaskSucceeded":
            return [("LambdaFunctionSucceeded", _payload(details.get("output"), include, "output"))]
        return [("LambdaFunctionFailed", failure)]
    kind_of_resource, action = _task_resource(resource) or (details.get("resourceType", ""), resource)
    named = {"resource": action, "resourceType": kind_of_resource}
    if kind == "TaskScheduled":
        parameters = {"parameters": details["parameters"]} if include and "parameters" in details else {}
        return [("TaskScheduled", {**parameters, "region": region, **named}), ("TaskStarted", named)]
    if kind == "TaskSucceeded":
        return [("TaskSucceeded", {**_payload(details.get("output"), include, "output"), **named})]
    return [("TaskFailed", {**failure, **named})]


def _records(event: dict, include: bool, region: str) -> list[tuple[str, dict]]:
    kind = event["type"]
    if kind in ("TaskScheduled", "TaskSucceeded", "TaskFailed"):
        return _task_records(event, include, region)
    if kind == "ExecutionStarted":
        details = event.get("executionStartedEventDetails") or {}
        return [(kind, {**_payload(details.get("input"), include, "input"), "roleArn": details.get("roleArn", "")})]
    if kind.endswith("StateEntered"):
        details = event.get("stateEnteredEventDetails") or {}
        return [(kind, {**_payload(details.get("input"), include, "input"), "name": details.get("name", "")})]
    if kind.endswith("StateExited"):
        details = event.get("stateExitedEventDetails") or {}
        return [(kind, {"name": details.get("name", ""), **_payload(details.get("output"), include, "output")})]
    if kind == "ExecutionSucceeded":
        details = event.get("executionSucceededEventDetails") or {}
        return [(kind, _payload(details.get("output"), include, "output"))]
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            shown = {k: v for k, v in value.items() if include or k not in ("input", "output")}
            return [(kind, dict(sorted(shown.items())))]
    return [(kind, {})]


def _epoch_ms(iso: str) -> str:
    try:
        return str(int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000))
    except (AttributeError, ValueError):
        return "0"


def log_records(record: dict, level: str, include: bool) -> list[dict]:
    """The log events AWS writes for an execution at ``level``."""
    summary = seams.states.execution_summary(record)
    region = summary["executionArn"].split(":")[3]
    wanted = {"ALL": None, "ERROR": ERROR_TYPES, "FATAL": FATAL_TYPES}.get(level, set())
    records, number = [], 0
    for event in seams.states.execution_events(record):
        for kind, details in _records(event, include, region):
            number += 1
            if wanted is not None and kind not in wanted:
                continue
            records.append({
                "id": str(number), "type": kind, "details": details,
                "previous_event_id": str(number - 1 if number > 2 else 0),
                "event_timestamp": _epoch_ms(event.get("timestamp", "")),
                "execution_arn": summary["executionArn"], "redrive_count": "0",
            })
    return records


def _log_group(configuration: dict) -> tuple[str, str, str] | None:
    """(account, region, name) of the configuration's log group ARN."""
    for destination in configuration.get("destinations") or []:
        arn = ((destination or {}).get("cloudWatchLogsLogGroup") or {}).get("logGroupArn", "")
        parts = arn.split(":")
        if len(parts) >= 7 and parts[2] == "logs" and parts[5] == "log-group":
            return parts[4], parts[3], parts[6]
    return None


# One stream per state machine and minute (per process): a stream per execution would leave a
# busy log group with tens of thousands of streams, which every reader then scans.
_PROCESS_TOKEN = uuid.uuid4().hex[:8]
_streams_made: set[tuple[str, str, str, str]] = set()
_streams_lock = threading.Lock()


def stream_name(machine: dict, record: dict) -> str:
    started = seams.states.execution_summary(record)["startDate"] or ""
    minute = started[:16].replace("T", "-").replace(":", "-")
    return f"states/{seams.states.machine_name(machine)}/{minute}/{_PROCESS_TOKEN}"


def _ensure_stream(account: str, region: str, group: str, stream: str) -> bool:
    key = (account, region, group, stream)
    with _streams_lock:
        if key in _streams_made:
            return True
    status, body = seams.logs.action("CreateLogStream", {"logGroupName": group, "logStreamName": stream})
    if status >= 400 and body.get("__type") != "ResourceAlreadyExistsException":
        return False
    with _streams_lock:
        if len(_streams_made) > 10_000:
            _streams_made.clear()
        _streams_made.add(key)
    return True


def write(record: dict) -> None:
    machine = seams.states.execution_machine(record)
    configuration = seams.states.machine_logging(machine) if machine else {}
    level = configuration.get("level", "OFF")
    where = _log_group(configuration)
    if level == "OFF" or where is None or record.get("status") == "RUNNING":
        return
    records = log_records(record, level, bool(configuration.get("includeExecutionData")))
    if not records:
        return
    account, region, group = where
    stream = stream_name(machine, record)
    with seams.request_scope(account, region):
        if not _ensure_stream(account, region, group, stream):
            logger.warning("execution log for %s not written: log group %s", record.get("executionArn"), group)
            return
        status, body = seams.logs.action("PutLogEvents", {
            "logGroupName": group, "logStreamName": stream, "logEvents": [
                {"timestamp": int(r["event_timestamp"]), "message": json.dumps(r, separators=(",", ":"))}
                for r in records]})
        if status >= 400 and body.get("__type") == "ResourceNotFoundException":
            with _streams_lock:  # the group or stream was deleted since: make it again next time
                _streams_made.discard((account, region, group, stream))
            logger.warning("execution log for %s not written: %s", record.get("executionArn"), body)


def _wrap_note_parameters(original):
    """Keep each task's effective input on its TaskScheduled event (AWS logs it as
    ``parameters`` / the Lambda function's ``input``)."""
    def invoke(resource, input_data, *args):
        record = running.current_execution()
        for event in reversed(seams.states.execution_events(record) if record else []):
            if event.get("type") == "TaskScheduled":
                details = event.setdefault("taskScheduledEventDetails", {})
                details.setdefault("parameters", json.dumps(input_data, separators=(",", ":"), ensure_ascii=False))
                break
        return original(resource, input_data, *args)

    return invoke


def needed() -> bool:
    return not seams.states.probe_writes_execution_logs()


def install() -> None:
    running.when_finished(write)
    seams.states.wrap_function("_invoke_resource", _wrap_note_parameters)


EXTENSION = Extension(name="states_execution_logs", needed=needed, install=install)
