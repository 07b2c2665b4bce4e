"""Everything the local cloud keeps: one SQLite database under its home (``database``),
holding the stores that must not live in memory (logs, archived events, DynamoDB items)
and, with persistence on, the crash-safe snapshot of every service (``snapshot``).

The server calls ``open_storage`` before extensions install, ``restore`` and ``start``
once ministack has started, ``stop`` after in-flight work drained.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from localcloud import seams
from localcloud.state.database import FILE_NAME, StateUnreadable, advice, close_database, database, open_database

logger = logging.getLogger("localcloud.state")

_snapshots = None  # a snapshot.Snapshots when persistence is on


def open_storage(home, persist: bool) -> None:
    """Open the database: kept in ``<home>/state`` with persistence, else fresh in
    ``<home>/scratch``."""
    global _snapshots
    from localcloud.state.snapshot import Snapshots

    directory = home / ("state" if persist else "scratch")
    if persist and not (directory / FILE_NAME).exists() and any(directory.glob("*.json")):
        raise StateUnreadable(advice(directory / FILE_NAME, "it holds the state files of an earlier version of "
                                                            "this local cloud, one JSON file per service, which "
                                                            "it no longer reads"))
    open_database(directory, fresh=not persist)
    if persist:
        _snapshots = Snapshots(database(), {})
        seams.wrap_service_handler("cloudformation", _reported_stacks_are_durable)


def persisting() -> bool:
    return _snapshots is not None


def restore(extension_states: dict[str, Callable[[], dict]], extension_restores: dict[str, Callable[[dict], None]]):
    """Load the last snapshot (persistence on); extensions' states are part of it."""
    if _snapshots is None:
        return None
    _snapshots.extension_states = extension_states
    summary = _snapshots.restore(extension_restores)
    logger.warning("restored the last snapshot (saved at %s): %d parts%s%s%s", summary["saved_at"], summary["parts"],
                   f"; S3 buckets made after it removed: {summary['dropped_s3_buckets']}"
                   if summary["dropped_s3_buckets"] else "",
                   f"; stacks caught mid-operation: {summary['settled_stacks']}" if summary["settled_stacks"] else "",
                   f"; EXPRESS executions run again: {len(summary['interrupted_executions'])}"
                   if summary["interrupted_executions"] else "")
    _restored_summary.update(summary)
    return summary


_restored_summary: dict = {}


def start() -> None:
    """Checkpoints begin; executions the last process left running start over."""
    if _snapshots is not None:
        _snapshots.start()
        _snapshots.resume(_restored_summary)


def stop() -> None:
    """The last checkpoint of a graceful stop (everything in flight has drained)."""
    if _snapshots is not None:
        _snapshots.stop()


def durable(timeout: float = 10.0) -> bool:
    """Wait until what happened so far is in a committed snapshot (no-op without persistence)."""
    return _snapshots.durable(timeout) if _snapshots is not None else True


STACK_SAVE_WAIT_S = 60.0


def _reported_stacks_are_durable(original):
    """A CloudFormation answer may show a stack as finished only once that is saved:
    a client that saw CREATE_COMPLETE (``make deploy``) finds the stack after a kill."""

    async def handler(method, path, headers, body, query_params):
        response = await original(method, path, headers, body, query_params)
        if _snapshots is not None and _snapshots.finished_stacks_not_durable():
            # A CloudFormation client polls and can wait; a checkpoint on a loaded machine can
            # take more than a few seconds (a full run of CI saw 10 s pass once).
            if not await asyncio.to_thread(_snapshots.durable, STACK_SAVE_WAIT_S):
                logger.warning("a finished stack status is answered before it was saved (%s s)", STACK_SAVE_WAIT_S)
        return response

    return handler


def tuple_keyed_state(mapping: dict) -> list:
    """A dict keyed by tuples, as JSON can hold it (persistence)."""
    return [[list(key), value] for key, value in mapping.items()]


def restore_tuple_keyed(mapping: dict, items: list) -> None:
    for key, value in items:
        mapping[tuple(key)] = value


__all__ = ["StateUnreadable", "close_database", "database", "durable", "open_storage", "persisting", "restore",
           "restore_tuple_keyed", "start", "stop", "tuple_keyed_state"]
