"""Step Functions' payload limits: 256 KiB of input, state output and task result.

"Maximum input or output size for a task, state, or execution: 256 KiB of data as a
UTF-8 encoded string" (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html).
ministack 1.5.33 enforces none of it. Here:

* StartExecution / StartSyncExecution refuse input over 262,144 bytes with AWS's
  ValidationException, and input that is not JSON with InvalidExecutionInput; a name AWS
  does not accept is InvalidName (API_StartExecution.html);
* a state whose output is larger fails the execution with States.DataLimitExceeded, which
  no Retry or Catch sees (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html:
  "This is a terminal error that can't be caught by the States.ALL error type").

Sizes are counted on the compact UTF-8 JSON AWS holds; ministack's own serialisation
(", " and ": ", \\u escapes) is never smaller, so it is re-measured only near the limit.
"""

from __future__ import annotations

import json
import re

from localcloud import seams
from localcloud.extension import Extension

MAX_PAYLOAD_BYTES = 262_144
_INVALID_NAME = re.compile(r'[\s<>{}\[\]?*"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]')


def compact_json(text):
    """JSON text as AWS writes it (ministack writes Python's spacing and \\u escapes)."""
    try:
        return json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError):
        return text


def aws_size(text: str) -> int:
    """Bytes of ``text`` as AWS holds it (compact JSON in UTF-8)."""
    size = len(text.encode())
    if size <= MAX_PAYLOAD_BYTES:
        return size
    try:
        return len(json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False).encode())
    except ValueError:
        return size


def request_error(data: dict) -> tuple[int, dict, bytes] | None:
    """AWS's refusal of a StartExecution/StartSyncExecution's name or input, else None."""
    name = data.get("name")
    if name is not None and (not 1 <= len(name) <= 80 or _INVALID_NAME.search(name)):
        return seams.states.error_response("InvalidName", f"Invalid Name: '{name}'")
    text = data.get("input")
    if text is None:
        return None
    if len(text.encode()) > MAX_PAYLOAD_BYTES:
        return seams.states.error_response(
            "ValidationException", "1 validation error detected: Value at 'input' failed to satisfy constraint: "
                                   f"Member must have length less than or equal to {MAX_PAYLOAD_BYTES}")
    try:
        json.loads(text)
    except ValueError as error:
        return seams.states.error_response("InvalidExecutionInput",
                                           f"Invalid State Machine Execution Input: '{error}'")
    return None


def _wrap_start(original):
    def start_execution(data):
        return request_error(data) or original(data)

    return start_execution


def _wrap_add_event(original):
    def add_event(execution, event_type, details=None):
        exited = (details or {}).get("stateExitedEventDetails") if event_type.endswith("StateExited") else None
        if exited and isinstance(exited.get("output"), str) and aws_size(exited["output"]) > MAX_PAYLOAD_BYTES:
            raise seams.states.execution_error(
                "States.DataLimitExceeded", f"The state/task '{exited.get('name', '')}' returned a result with a size "
                                            "exceeding the maximum number of bytes service limit.")
        return original(execution, event_type, details)

    return add_event


def needed() -> bool:
    answer = seams.states.probe_sync_execution({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}},
                                               execution_input=json.dumps({"x": "x" * MAX_PAYLOAD_BYTES}))
    return answer.get("status") == "SUCCEEDED"


def install() -> None:
    seams.states.wrap_function("_start_execution", _wrap_start)
    seams.states.wrap_function("_start_sync_execution", _wrap_start)
    seams.states.wrap_function("_add_event", _wrap_add_event)


EXTENSION = Extension(name="states_payload_limits", needed=needed, install=install)
