"""EXPRESS executions as AWS runs them, and the execution API's answers for them.

ministack 1.5.33 treats an EXPRESS execution as a STANDARD one. AWS differs:

* its ARN is ``arn:aws:states:<region>:<account>:express:<machine>:<name>:<id>``;
* ListExecutions on an EXPRESS state machine is StateMachineTypeNotSupported "This
  operation is not supported by this type of state machine"; DescribeExecution,
  StopExecution and GetExecutionHistory of an express ARN are InvalidArn "Invalid Arn:
  'Resource type not valid in this context: express'" (the log group is the record);
* StartSyncExecution of a failed execution returns error and cause but no ``output``,
  and every answer carries ``billingDetails``.

Source: LocalStack's snapshots recorded on AWS, tests/aws/services/stepfunctions/v2/
test_sfn_api_express.snapshot.json and express/test_express_sync.snapshot.json.

(Input validation and size limits, for both types, are payload_limits.py.)
"""

from __future__ import annotations

import contextvars
import math
import re
import threading
from datetime import datetime

from localcloud import seams
from localcloud.extension import Extension
from localcloud.services.states.payload_limits import compact_json

BILLED_MEMORY_MB = 64
_EXPRESS_ARN = re.compile(r"^arn:[^:]+:states:[^:]*:\d{12}:express:")


def express_arn(machine: dict, name: str) -> str:
    parts = seams.states.machine_arn(machine).split(":")
    return ":".join(parts[:5] + ["express", seams.states.machine_name(machine), name, seams.new_id()])


def is_express_arn(arn) -> bool:
    return isinstance(arn, str) and bool(_EXPRESS_ARN.match(arn))


def _express_machine(data: dict) -> dict | None:
    arn = data.get("stateMachineArn") or ""
    if "#" in arn:  # a mocked test case (Step Functions Local's convention): ministack's own path
        return None
    machine = seams.states.state_machine(arn)
    return machine if machine and seams.states.machine_type(machine) == "EXPRESS" else None


def _start(machine: dict, data: dict, sync: bool) -> dict:
    name = data.get("name") or seams.new_id()
    return seams.states.new_express_execution(express_arn(machine, name), machine, name, data.get("input") or "{}",
                                              started_sync=sync)


def start_async(machine: dict, data: dict) -> tuple[int, dict, bytes]:
    record = _start(machine, data, sync=False)
    context = contextvars.copy_context()  # the account/region scope, and capacity's pacing
    threading.Thread(target=context.run, args=(seams.states.run_execution, record["executionArn"]),
                     name="localcloud-express", daemon=True).start()
    return seams.states.json_ok({"executionArn": record["executionArn"], "startDate": record["startDate"]})


def _billed_ms(started: str, stopped: str) -> int:
    try:
        elapsed = (datetime.fromisoformat(stopped.replace("Z", "+00:00"))
                   - datetime.fromisoformat(started.replace("Z", "+00:00"))).total_seconds() * 1000
    except (AttributeError, ValueError):
        elapsed = 0
    return max(100, math.ceil(elapsed / 100) * 100)


def sync_answer(summary: dict) -> dict:
    answer = {
        "executionArn": summary["executionArn"], "stateMachineArn": summary["stateMachineArn"],
        "name": summary["name"], "startDate": summary["startDate"], "stopDate": summary["stopDate"],
        "status": summary["status"], "input": summary["input"], "inputDetails": {"included": True},
        "outputDetails": {"included": True},
        "billingDetails": {"billedMemoryUsedInMB": BILLED_MEMORY_MB,
                           "billedDurationInMilliseconds": _billed_ms(summary["startDate"], summary["stopDate"])},
    }
    if summary["status"] == "SUCCEEDED":
        answer["output"] = compact_json(summary["output"])
    else:
        answer.update({k: summary[k] for k in ("error", "cause") if summary.get(k) is not None})
    return answer


def start_sync(machine: dict, data: dict) -> tuple[int, dict, bytes]:
    record = _start(machine, data, sync=True)
    seams.states.run_execution(record["executionArn"])
    return seams.states.json_ok(sync_answer(seams.states.execution_summary(record)))


def _wrap_start(original, sync: bool):
    def start_execution(data):
        machine = _express_machine(data)
        if machine is None:
            return original(data)
        return start_sync(machine, data) if sync else start_async(machine, data)

    return start_execution


def _wrap_refuse_express_arn(original):
    def by_execution_arn(data):
        if is_express_arn(data.get("executionArn")):
            return seams.states.error_response(
                "InvalidArn", "Invalid Arn: 'Resource type not valid in this context: express'")
        return original(data)

    return by_execution_arn


def _wrap_list_executions(original):
    def list_executions(data):
        machine = seams.states.state_machine(data.get("stateMachineArn") or "")
        if machine and seams.states.machine_type(machine) == "EXPRESS":
            return seams.states.error_response("StateMachineTypeNotSupported",
                                               "This operation is not supported by this type of state machine")
        return original(data)

    return list_executions


def needed() -> bool:
    return seams.states.probe_express_execution_arn_kind() != "express"


def install() -> None:
    seams.states.wrap_function("_start_execution", lambda original: _wrap_start(original, sync=False))
    seams.states.wrap_function("_start_sync_execution", lambda original: _wrap_start(original, sync=True))
    for name in ("_describe_execution", "_stop_execution", "_get_execution_history",
                 "_describe_state_machine_for_execution"):
        seams.states.wrap_function(name, _wrap_refuse_express_arn)
    seams.states.wrap_function("_list_executions", _wrap_list_executions)


EXTENSION = Extension(name="express_executions", needed=needed, install=install)
