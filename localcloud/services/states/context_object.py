"""The ``$$`` context object as AWS fills it.

ministack 1.5.33 resolves ``$$.Execution.Id`` and friends from its own bookkeeping but
``"ctx.$": "$$"`` (and InputPath/OutputPath ``$$``) is null, and the object lacks
``Execution.RoleArn`` and ``Execution.RedriveCount``. AWS's object:

  {"Execution": {"Id", "Input", "Name", "RoleArn", "StartTime", "RedriveCount"},
   "StateMachine": {"Id", "Name"},
   "State": {"Name", "EnteredTime"} (+ "RetryCount" in a Task state),
   "Task": {"Token"} (callback tasks), "Map": {"Item": {"Index", "Value"}} (in a Map)}

``RedriveCount`` is absent in executions started with StartSyncExecution.

Sources: https://docs.aws.amazon.com/step-functions/latest/dg/input-output-contextobject.html;
LocalStack snapshots recorded on AWS: v2/context_object/test_context_object.snapshot.json
(test_input_path[$$]) and express/test_express_async.snapshot.json,
express/test_express_sync.snapshot.json (test_query_runtime_memory).
"""

from __future__ import annotations

from localcloud import seams
from localcloud.extension import Extension

WHOLE = "$$"


def _state_type(definition: dict, name: str) -> str | None:
    states = definition.get("States") or {}
    if name in states:
        return states[name].get("Type")
    for state in states.values():  # nested: Parallel branches, Map iterators / item processors
        for inner in [*(state.get("Branches") or []), state.get("Iterator"), state.get("ItemProcessor")]:
            found = _state_type(inner, name) if isinstance(inner, dict) else None
            if found:
                return found
    return None


def context_object(ctx: dict) -> dict:
    """AWS's context object, built from ministack's per-execution ``ctx``."""
    execution = dict(ctx.get("Execution") or {})
    record = seams.states.execution(execution.get("Id", "")) or {}
    machine = seams.states.execution_machine(record) or {}
    view = {"Execution": {
        "Id": execution.get("Id"), "Input": execution.get("Input"), "Name": execution.get("Name"),
        "RoleArn": seams.states.machine_role(machine) if machine else None, "StartTime": execution.get("StartTime"),
    }}
    if not seams.states.started_sync(record):
        view["Execution"]["RedriveCount"] = 0
    view["StateMachine"] = dict(ctx.get("StateMachine") or {})
    state = ctx.get("State") or {}
    view["State"] = {"Name": state.get("Name"), "EnteredTime": state.get("EnteredTime")}
    if machine and _state_type(seams.states.machine_definition(machine), state.get("Name")) == "Task":
        view["State"]["RetryCount"] = state.get("RetryCount", 0)
    for optional in ("Task", "Map"):
        if ctx.get(optional):
            view[optional] = ctx[optional]
    return view


def _resolve(path: str, ctx: dict):
    view = context_object(ctx or {})
    return view if path == WHOLE else seams.states.resolve_json_path("$" + path[2:], view)


def _wrap_resolve_ctx_path(_original):
    def resolve_ctx_path(path, ctx):
        return _resolve(path, ctx) if isinstance(path, str) and path.startswith(WHOLE) else None

    return resolve_ctx_path


def _wrap_resolve_path_or_ctx(original):
    def resolve_path_or_ctx(path, data, ctx):
        if path == WHOLE:
            return _resolve(path, ctx)
        return original(path, data, ctx)

    return resolve_path_or_ctx


def _wrap_resolve_params(original):
    def resolve_params_obj(template, data, ctx=None):
        if not isinstance(template, dict):
            return original(template, data, ctx)
        whole = {k for k, v in template.items() if k.endswith(".$") and v == WHOLE}
        if not whole:
            return original(template, data, ctx)
        result = original({k: v for k, v in template.items() if k not in whole}, data, ctx)
        result.update({key[:-2]: _resolve(WHOLE, ctx) for key in whole})
        return result

    return resolve_params_obj


def needed() -> bool:
    answer = seams.states.probe_sync_execution({"StartAt": "Ctx", "States": {"Ctx": {
        "Type": "Pass", "Parameters": {"ctx.$": "$$"}, "End": True}}})
    import json

    output = json.loads(answer.get("output") or "{}")
    return not isinstance(output.get("ctx"), dict) or "RoleArn" not in output["ctx"].get("Execution", {})


def install() -> None:
    seams.states.wrap_function("_resolve_ctx_path", _wrap_resolve_ctx_path)
    seams.states.wrap_function("_resolve_path_or_ctx", _wrap_resolve_path_or_ctx)
    seams.states.wrap_function("_resolve_params_obj", _wrap_resolve_params)


EXTENSION = Extension(name="states_context_object", needed=needed, install=install)
