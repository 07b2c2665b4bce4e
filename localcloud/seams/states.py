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


def execution_role(exec_arn: str) -> tuple[str, str]:
    """(state machine ARN, its role ARN) of an execution; ("", "") when unknown."""
    stepfunctions = module()
    execution = stepfunctions._executions.get(exec_arn) or {}
    machine_arn = execution.get("stateMachineArn", "")
    machine = stepfunctions._state_machines.get(machine_arn) or {}
    return machine_arn, machine.get("roleArn", "")


def task_failure(error: str, cause: str) -> Exception:
    """The exception a task raises to fail with ``error`` and ``cause`` (Retry/Catch see them)."""
    return module()._ExecutionError(error, cause)
