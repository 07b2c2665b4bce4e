"""ministack's persistence contract, for a snapshot of our own: each service module's
``get_state`` / ``load_persisted_state``, its JSON encoding of scoped stores, and the
few places where a service keeps state outside that contract (S3 objects and Lambda
code on disk, CloudFormation operations that a killed process never finishes).

ministack's own save (one JSON file per service at shutdown, unsynced) is switched off
(PERSIST_STATE=0, see ``localcloud.settings``); ``localcloud.state`` writes one
consistent snapshot instead.
"""

from __future__ import annotations

import functools
import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

logger = logging.getLogger("localcloud.state")


def _persistence():
    from ministack.core import persistence

    return persistence


def state_getters() -> dict[str, Callable[[], Any]]:
    """{state key: get_state} of every service module loaded so far (Step Functions' own
    replaced by ``stepfunctions_state``, when it has the stores that expects)."""
    from ministack import app

    getters = app._build_persistence_save_dict()
    if "stepfunctions" in getters and _stepfunctions_stores_known():
        getters["stepfunctions"] = stepfunctions_state
    return getters


_STEPFUNCTIONS_STORES = ("state_machines", "executions", "tags", "activities", "state_machine_versions",
                         "state_machine_aliases", "map_runs")


@functools.cache
def _stepfunctions_stores_known() -> bool:
    from ministack.services import stepfunctions

    known = set(stepfunctions.get_state()) == set(_STEPFUNCTIONS_STORES)
    if not known:
        logger.warning("ministack's Step Functions state has other stores than expected: saving all executions")
    return known


def stepfunctions_state() -> dict:
    """ministack's Step Functions state without finished EXPRESS executions: AWS keeps no
    history of those (their log group is the record), a restore has no use for them, and
    copying a thousand of them with their histories twice a second is most of a
    checkpoint's cost. Running ones are kept (a restore runs them again)."""
    import copy

    from ministack.core.responses import AccountRegionScopedDict
    from ministack.services import stepfunctions

    express = {arn for (_a, _r, arn), machine in list(stepfunctions._state_machines._data.items())
               if isinstance(machine, dict) and machine.get("type") == "EXPRESS"}
    executions = AccountRegionScopedDict()
    for key, record in list(stepfunctions._executions._data.items()):
        if record.get("status") == "RUNNING" or record.get("stateMachineArn") not in express:
            executions._data[key] = copy.deepcopy(record)
    state = {name: copy.deepcopy(getattr(stepfunctions, f"_{name}")) for name in _STEPFUNCTIONS_STORES
             if name != "executions"}
    state["executions"] = executions
    return state


def state_keys() -> list[str]:
    from ministack import app

    return list(app._state_map)


def format_version(key: str) -> int:
    return _persistence()._state_format_version(key)


def encode(data: Any) -> bytes:
    return json.dumps(data, default=_persistence()._json_default, separators=(",", ":")).encode()


def decode(payload: bytes) -> Any:
    return json.loads(payload, object_hook=_persistence()._json_object_hook)


def state_key_of_service(service: str) -> str | None:
    """The state key of the module serving API ``service`` ("states" -> "stepfunctions")."""
    from ministack import app

    config = app.SERVICE_REGISTRY.get(service) or {}
    return config.get("state_key", config.get("module"))


_READ_PREFIXES = ("Get", "Describe", "List", "Query", "Scan", "BatchGet", "Head", "Lookup", "Search", "Filter",
                  "Check", "Validate", "Test", "Estimate", "Preview", "Simulate", "Detect")


def _action(headers: dict, query_params: dict, body: bytes) -> str:
    target = headers.get("x-amz-target") or headers.get("X-Amz-Target") or ""
    if target:
        return target.rsplit(".", 1)[-1]
    action = query_params.get("Action") if isinstance(query_params, dict) else None
    if isinstance(action, list):
        action = action[0] if action else None
    if not action and body[:7] == b"Action=":
        action = body[7:].split(b"&", 1)[0].decode("ascii", "replace")
    return action or ""


def watch_writes(on_write: Callable[[str], None]) -> None:
    """Call ``on_write(service)`` before each API request that may change a service's
    state: anything but GET/HEAD and actions named as reads (Get…, Describe…, List…)."""
    from ministack import app

    def wrap(service: str, original):
        async def handler(method, path, headers, body, query_params):
            if method not in ("GET", "HEAD") and not _action(headers or {}, query_params or {},
                                                             body or b"").startswith(_READ_PREFIXES):
                on_write(service)
            return await original(method, path, headers, body, query_params)

        return handler

    for service in list(app.SERVICE_HANDLERS):
        app.SERVICE_HANDLERS[service] = wrap(service, app.SERVICE_HANDLERS[service])


def restore_service(key: str, data: Any) -> None:
    from ministack import app

    app._get_module(app._state_map[key]).load_persisted_state(data)


# --- Lambda code: content-addressed files next to the snapshot ----------------------------

_referenced_blobs: set[str] = set()


def defer_lambda_blob_pruning() -> None:
    """ministack's Lambda ``get_state`` deletes code files no function references any
    more; the last committed snapshot may still reference them. Record instead, and
    prune once the snapshot that no longer needs them is committed."""
    from ministack.services import lambda_svc

    def record(referenced: set[str]) -> None:
        _referenced_blobs.clear()
        _referenced_blobs.update(referenced)

    lambda_svc._prune_orphan_code_blobs = record


def lambda_blob_files() -> list[Path]:
    from ministack.services import lambda_svc

    directory = Path(lambda_svc.CODE_BLOB_DIR)
    return sorted(directory.glob("*.zip")) if directory.is_dir() else []


def prune_lambda_blobs() -> None:
    """Remove code files the committed snapshot does not reference."""
    referenced = set(_referenced_blobs)
    for path in lambda_blob_files():
        if path.stem not in referenced:
            path.unlink(missing_ok=True)


# --- S3: object bodies on disk, bucket records in the snapshot ------------------------------

def s3_bucket_keys(s3_state: Any) -> set[tuple[str, str]]:
    """(account, bucket) of every bucket a decoded S3 state holds."""
    meta = (s3_state or {}).get("buckets_meta")
    data = getattr(meta, "_data", None)
    return {(str(k[0]), str(k[1])) for k in data} if isinstance(data, dict) else set()


def drop_s3_buckets_not_in(keep: set[tuple[str, str]]) -> list[str]:
    """S3 keeps object bodies on disk as they are written, so a bucket created after the
    last snapshot survives a kill while the stack that made it does not. Remove such
    buckets (folder and record) so the snapshot is the whole truth."""
    from ministack.services import s3

    root = Path(s3.DATA_DIR)
    dropped = []
    for account_dir in (root.iterdir() if root.is_dir() else []):
        if not (account_dir.is_dir() and account_dir.name.isdigit() and len(account_dir.name) == 12):
            continue
        for bucket_dir in account_dir.iterdir():
            if bucket_dir.is_dir() and (account_dir.name, bucket_dir.name) not in keep:
                shutil.rmtree(bucket_dir, ignore_errors=True)
                dropped.append(f"{account_dir.name}/{bucket_dir.name}")
    for scoped_key in list(s3._buckets._data):
        if (str(scoped_key[0]), str(scoped_key[1])) not in keep:
            s3._buckets._data.pop(scoped_key, None)
            name = f"{scoped_key[0]}/{scoped_key[1]}"
            if name not in dropped:
                dropped.append(name)
    return dropped


# --- CloudFormation: operations a killed process never finishes ------------------------------

# What a stack caught mid-operation becomes: a status CloudFormation itself can end in,
# from which the CDK CLI knows how to go on (it deletes and re-creates a stack whose
# creation failed, and updates one whose update rolled back).
SETTLED_STATUS = {
    "CREATE_IN_PROGRESS": "ROLLBACK_FAILED",
    "ROLLBACK_IN_PROGRESS": "ROLLBACK_FAILED",
    "IMPORT_IN_PROGRESS": "IMPORT_ROLLBACK_FAILED",
    "IMPORT_ROLLBACK_IN_PROGRESS": "IMPORT_ROLLBACK_FAILED",
    "UPDATE_IN_PROGRESS": "UPDATE_ROLLBACK_COMPLETE",
    "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS": "UPDATE_COMPLETE",
    "UPDATE_ROLLBACK_IN_PROGRESS": "UPDATE_ROLLBACK_COMPLETE",
    "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS": "UPDATE_ROLLBACK_COMPLETE",
    "DELETE_IN_PROGRESS": "DELETE_FAILED",
}


def _stacks():
    from ministack.services import cloudformation

    return cloudformation._stacks


def stack_statuses() -> dict[str, str]:
    """{stack id: status} of every stack in every account and region."""
    import sys

    if "ministack.services.cloudformation" not in sys.modules:
        return {}
    return {str(stack.get("StackId")): str(stack.get("StackStatus"))
            for stack in list(_stacks().all_values()) if isinstance(stack, dict)}


def settle_interrupted_stacks() -> list[str]:
    """Give every stack a killed process left mid-operation the status its operation
    would fail with; returns "name: old -> new" for each."""
    import time

    settled = []
    for stack in list(_stacks().all_values()):
        status = stack.get("StackStatus", "")
        new = SETTLED_STATUS.get(status)
        if new is None:
            continue
        stack["StackStatus"] = new
        stack["StackStatusReason"] = "The local cloud stopped during this operation (restored from its last snapshot)"
        stack.pop("_failed_operation", None)
        stack["LastUpdatedTime"] = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        settled.append(f"{stack.get('StackName')}: {status} -> {new}")
    return settled


# --- Step Functions: EXPRESS executions a killed process never finished ----------------------------

def interrupted_async_express_executions(stepfunctions_state: Any) -> list[tuple[str, str, str]]:
    """(account, region, execution ARN) of every execution a saved Step Functions state
    holds as RUNNING that was started asynchronously on an EXPRESS state machine."""
    executions = getattr((stepfunctions_state or {}).get("executions"), "_data", {}) or {}
    machines = getattr((stepfunctions_state or {}).get("state_machines"), "_data", {}) or {}
    express = {str(m.get("stateMachineArn")) for m in machines.values() if m.get("type") == "EXPRESS"}
    found = []
    for (account, region, arn), record in executions.items():
        started_sync = record.get("localcloudStartedSync", bool(record.get("sync")))
        if record.get("status") == "RUNNING" and record.get("stateMachineArn") in express and not started_sync:
            found.append((str(account), str(region), str(arn)))
    return found


def run_execution_again(account: str, region: str, exec_arn: str) -> None:
    """Start an execution over from its input, on a thread of its own."""
    import threading

    from ministack.core.responses import now_iso
    from ministack.services import stepfunctions

    from localcloud.seams.core import request_scope

    with request_scope(account, region):
        record = stepfunctions._executions.get(exec_arn)
        if record is None:
            return
        for key in ("error", "cause"):
            record.pop(key, None)
        record.update(status="RUNNING", stopDate=None, output=None, events=[
            {"id": 1, "type": "ExecutionStarted", "timestamp": now_iso(),
             "executionStartedEventDetails": {"input": record.get("input", "{}"), "roleArn": ""}}])

    def run() -> None:
        with request_scope(account, region):
            stepfunctions._run_execution(exec_arn)

    threading.Thread(target=run, name=f"localcloud-rerun-{exec_arn.rsplit(':', 1)[-1]}", daemon=True).start()
