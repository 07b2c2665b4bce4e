"""Pipe definitions and their state, as the Pipes API and CloudFormation create them.

One record per (account, region, name) with everything CreatePipe/UpdatePipe accept and
the state AWS reports (CurrentState, StateReason). Stream sources also keep their
checkpoints here (the sequence number each shard has been processed to), so a restart
with persistence resumes where the pipe stopped.
"""

from __future__ import annotations

import copy
import threading
import time

from localcloud.state import restore_tuple_keyed, tuple_keyed_state

Key = tuple[str, str, str]  # (account, region, name)

# What CreatePipe/UpdatePipe/DescribePipe carry besides state and times.
DEFINITION_FIELDS = ("Description", "Source", "SourceParameters", "Enrichment", "EnrichmentParameters", "Target",
                     "TargetParameters", "RoleArn", "LogConfiguration", "KmsKeyIdentifier")

_lock = threading.RLock()
_pipes: dict[Key, dict] = {}
_checkpoints: dict[Key, dict[str, str]] = {}  # shard id -> last processed sequence number
_changed = threading.Condition(_lock)



def get(key: Key) -> dict | None:
    with _lock:
        found = _pipes.get(key)
        return copy.deepcopy(found) if found else None


def exists(key: Key) -> bool:
    with _lock:
        return key in _pipes


def all_keys() -> list[Key]:
    with _lock:
        return list(_pipes)


def in_scope(account: str, region: str) -> list[dict]:
    with _lock:
        return [copy.deepcopy(p) for (a, r, _n), p in sorted(_pipes.items()) if (a, r) == (account, region)]


def put(key: Key, record: dict) -> None:
    with _lock:
        _pipes[key] = copy.deepcopy(record)
        _changed.notify_all()


def change(key: Key, **fields) -> dict | None:
    """Set fields of a pipe's record (None deletes a field); returns the new record."""
    with _lock:
        record = _pipes.get(key)
        if record is None:
            return None
        for name, value in fields.items():
            if value is None:
                record.pop(name, None)
            else:
                record[name] = copy.deepcopy(value)
        _changed.notify_all()
        return copy.deepcopy(record)


def set_state(key: Key, current: str, reason: str = "") -> None:
    change(key, CurrentState=current, StateReason=reason)


def remove(key: Key) -> None:
    with _lock:
        _pipes.pop(key, None)
        _checkpoints.pop(key, None)
        _changed.notify_all()


def wait_for_change(timeout: float) -> None:
    with _lock:
        _changed.wait(timeout)


def now() -> float:
    return round(time.time(), 3)


# --- stream checkpoints -----------------------------------------------------------------

def checkpoint(key: Key, shard_id: str) -> str | None:
    with _lock:
        return (_checkpoints.get(key) or {}).get(shard_id)


def set_checkpoint(key: Key, shard_id: str, sequence_number: str) -> None:
    with _lock:
        if key in _pipes:
            _checkpoints.setdefault(key, {})[shard_id] = sequence_number


def clear_checkpoints(key: Key) -> None:
    with _lock:
        _checkpoints.pop(key, None)


# --- persistence --------------------------------------------------------------------------

def state() -> dict:
    with _lock:
        return {"pipes": tuple_keyed_state(_pipes), "checkpoints": tuple_keyed_state(_checkpoints)}


def restore(data: dict) -> None:
    with _lock:
        restore_tuple_keyed(_pipes, data.get("pipes", []))
        restore_tuple_keyed(_checkpoints, data.get("checkpoints", []))
