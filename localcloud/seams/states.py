"""Step Functions: ministack's execution thread, its clock, and its execution store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def module():
    from ministack.services import stepfunctions

    return stepfunctions


def execution_pause_seconds() -> float | None:
    """The fixed pause ministack's execution thread takes before running a state machine
    (0.15 s in 1.5.33), read from its source; None when there is none."""
    import inspect
    import re

    source = inspect.getsource(module()._run_execution)
    match = re.search(r"time\.sleep\(([0-9.]+)\)", source)
    return float(match.group(1)) if match else None


def is_express_execution(exec_arn: str) -> bool:
    stepfunctions = module()
    execution = stepfunctions._executions.get(exec_arn) or {}
    machine = stepfunctions._state_machines.get(execution.get("stateMachineArn", "")) or {}
    return machine.get("type") == "EXPRESS"


def replace_clock(make_clock: Callable[[Any], Any]) -> None:
    """Give ministack's Step Functions module a clock of our own (wrapping ``time``)."""
    stepfunctions = module()
    stepfunctions.time = make_clock(stepfunctions.time)


def wrap_function(name: str, make_wrapper: Callable[[Callable], Callable]) -> None:
    """``_run_execution(exec_arn)`` is the body of every execution thread, looked up by
    name when ``_start_execution`` starts one."""
    stepfunctions = module()
    setattr(stepfunctions, name, make_wrapper(getattr(stepfunctions, name)))


def running_executions() -> list[str]:
    """ARNs of executions ministack records as RUNNING, in every account and region."""
    return [execution.get("executionArn", "") for execution in module()._executions.all_values()
            if execution.get("status") == "RUNNING"]


def finished_express_executions() -> list[tuple[str, str]]:
    """(stopDate, ARN) of every finished EXPRESS execution ministack still holds."""
    stepfunctions = module()
    machines = {m.get("stateMachineArn"): m.get("type") for m in stepfunctions._state_machines.all_values()}
    return [(execution.get("stopDate") or "", execution.get("executionArn", ""))
            for execution in stepfunctions._executions.all_values()
            if execution.get("status") != "RUNNING" and machines.get(execution.get("stateMachineArn")) == "EXPRESS"]


def forget_executions(arns: set[str]) -> None:
    store = module()._executions
    for scoped_key, execution in store.all_items():
        if execution.get("executionArn") in arns:
            store.pop_scoped(scoped_key[0], scoped_key[1], scoped_key[2], None)


def prunes_executions() -> bool:
    """Probe (source level): does ministack drop finished executions as it starts or ends
    them (a retention limit), rather than only when their state machine is deleted?"""
    import inspect

    stepfunctions = module()
    source = inspect.getsource(stepfunctions._start_execution) + inspect.getsource(stepfunctions._run_execution)
    return any(marker in source for marker in ("_executions.pop(", "del _executions[", "_executions.pop_scoped("))


# --- state machines and execution records -------------------------------------------------

def state_machine(arn: str) -> dict | None:
    """The state machine a state machine, version or alias ARN names (current scope)."""
    stepfunctions = module()
    base = stepfunctions._resolve_state_machine_arn(arn)
    return stepfunctions._state_machines.get(base) if base else None


def machine_arn(machine: dict) -> str:
    return machine["stateMachineArn"]


def machine_name(machine: dict) -> str:
    return machine["name"]


def machine_type(machine: dict) -> str:
    return machine.get("type", "STANDARD")


def machine_role(machine: dict) -> str:
    return machine.get("roleArn", "")


def machine_logging(machine: dict) -> dict:
    return machine.get("loggingConfiguration") or {}


def machine_definition(machine: dict) -> dict:
    import json

    try:
        return json.loads(machine.get("definition") or "{}")
    except ValueError:
        return {}


def execution(exec_arn: str) -> dict | None:
    return module()._executions.get(exec_arn)


def execution_exists(exec_arn: str) -> bool:
    return exec_arn in module()._executions


def execution_machine(record: dict) -> dict | None:
    return module()._state_machines.get(record.get("stateMachineArn", ""))


def execution_events(record: dict) -> list[dict]:
    """ministack's history: {"id", "type", "timestamp" (ISO), "<type>EventDetails": {...}}."""
    return record.get("events") or []


def execution_summary(record: dict) -> dict:
    """arn, name, status, startDate, stopDate, input, output, error, cause."""
    keys = ("executionArn", "stateMachineArn", "name", "status", "startDate", "stopDate", "input", "output",
            "error", "cause")
    return {k: record.get(k) for k in keys}


def new_express_execution(exec_arn: str, machine: dict, name: str, input_text: str, started_sync: bool) -> dict:
    """Store a RUNNING execution record of ``machine`` the way ministack's execution thread
    reads it, and return it. Marked as ministack marks sync executions: EXPRESS workflows
    publish no "Execution Status Change" events to EventBridge."""
    from ministack.core.responses import now_iso

    started = now_iso()
    record = {
        "executionArn": exec_arn, "stateMachineArn": machine["stateMachineArn"], "name": name,
        "status": "RUNNING", "startDate": started, "stopDate": None,
        "input": input_text, "inputDetails": {"included": True}, "output": None, "outputDetails": {"included": True},
        "testCase": "", "mockAttempts": {}, "sync": True, "localcloudStartedSync": started_sync,
        "events": [{"id": 1, "type": "ExecutionStarted", "timestamp": started,
                    "executionStartedEventDetails": {"input": input_text, "roleArn": machine.get("roleArn", "")}}],
    }
    module()._executions[exec_arn] = record
    return record


def started_sync(record: dict) -> bool:
    """Started by StartSyncExecution (ministack marks its own sync starts "sync" too)."""
    return record.get("localcloudStartedSync", bool(record.get("sync")))


def resolve_json_path(path: str, data):
    """A JSONPath (``$.a.b[0]``) into ``data``, as ministack's interpreter reads it."""
    return module()._resolve_path(path, data)


def run_execution(exec_arn: str) -> None:
    """Walk the definition to the end on this thread (through whatever wraps it)."""
    module()._run_execution(exec_arn)


def start_execution(request: dict) -> tuple[int, dict]:
    """StartExecution in-process in the current scope (through whatever wraps it)."""
    from localcloud.seams.core import decode_json

    status, _headers, body = module()._start_execution(request)
    return decode_json(status, body)


def execution_error(error: str, cause: str) -> Exception:
    """The exception a task raises to fail with ``error``/``cause`` (Retry and Catch see it)."""
    return module()._ExecutionError(error, cause)


def execution_error_type() -> type[Exception]:
    return module()._ExecutionError


def error_response(code: str, message: str, status: int = 400) -> tuple[int, dict, bytes]:
    from ministack.core.responses import error_response_json

    return error_response_json(code, message, status)


def json_ok(body: dict) -> tuple[int, dict, bytes]:
    from ministack.core.responses import json_response

    return json_response(body)


# --- probes: does ministack already do the job? -------------------------------------------

def _probe_machine(definition: dict, machine_type: str = "EXPRESS", **extra):
    """A scratch state machine in a throw-away account, deleted on exit: yields its ARN
    with the request scope set to that account."""
    import json
    from contextlib import contextmanager

    from localcloud.seams.core import PROBE_ACCOUNT_A, PROBE_REGION, request_scope

    @contextmanager
    def scratch():
        from localcloud.seams.iam import scratch_role

        stepfunctions = module()
        with request_scope(PROBE_ACCOUNT_A, PROBE_REGION), scratch_role(PROBE_ACCOUNT_A, "probe"):
            arn = json_field(stepfunctions._create_state_machine({
                "name": f"localcloud-probe-{machine_type.lower()}", "type": machine_type,
                "roleArn": f"arn:aws:iam::{PROBE_ACCOUNT_A}:role/probe", "definition": json.dumps(definition),
                **extra}), "stateMachineArn")
            try:
                yield arn
            finally:
                stepfunctions._delete_state_machine({"stateMachineArn": arn})

    return scratch()


def probe_sync_execution(definition: dict, execution_input: str = "{}") -> dict:
    """StartSyncExecution of a scratch EXPRESS machine; its answer."""
    import json

    with _probe_machine(definition) as arn:
        answer = module()._start_sync_execution({"stateMachineArn": arn, "input": execution_input})
        forget_executions({json_field(answer, "executionArn")})
        return json.loads(answer[2])


def probe_express_execution_arn_kind() -> str:
    """The resource type in an EXPRESS execution's ARN ("execution" or "express")."""
    arn = probe_sync_execution({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})["executionArn"]
    return arn.split(":")[5]


def probe_writes_execution_logs() -> bool:
    """True when an execution of a state machine logging ALL writes to its log group."""
    from ministack.services import cloudwatch_logs

    from localcloud.seams.core import PROBE_ACCOUNT_A, PROBE_REGION, request_scope

    group = "/localcloud/probe-states"
    arn = f"arn:aws:logs:{PROBE_REGION}:{PROBE_ACCOUNT_A}:log-group:{group}:*"
    logging_configuration = {"level": "ALL", "includeExecutionData": True,
                             "destinations": [{"cloudWatchLogsLogGroup": {"logGroupArn": arn}}]}
    with request_scope(PROBE_ACCOUNT_A, PROBE_REGION):
        cloudwatch_logs._create_log_group({"logGroupName": group})
        try:
            with _probe_machine({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}},
                                loggingConfiguration=logging_configuration) as machine:
                answer = module()._start_sync_execution({"stateMachineArn": machine, "input": "{}"})
                forget_executions({json_field(answer, "executionArn")})
                return bool(cloudwatch_logs._log_groups.get(group, {}).get("streams"))
        finally:
            cloudwatch_logs._delete_log_group({"logGroupName": group})


def json_field(response: tuple, field: str):
    import json

    try:
        return json.loads(response[2]).get(field)
    except (ValueError, IndexError, AttributeError):
        return None
