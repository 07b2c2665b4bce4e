"""Each pipe's life: one worker thread per pipe that settles its state and polls its source.

A change (create, update, start, stop, delete) stops the pipe's current worker — it
finishes the batch in hand, so nothing is delivered twice or lost — and starts a new
one, which moves the pipe from its transitional state to where AWS would leave it:
RUNNING (polling), STOPPED, gone (deleted), or CREATE_FAILED / UPDATE_FAILED /
START_FAILED with a StateReason when the source cannot be read.
https://docs.aws.amazon.com/eventbridge/latest/pipes-reference/API_DescribePipe.html
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from localcloud.services.pipes import store
from localcloud.services.pipes.sources import check_source, poll_source, standard_workflow_reason

logger = logging.getLogger("localcloud.pipes")


@dataclass
class _Worker:
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None


_lock = threading.Lock()
_workers: dict[store.Key, _Worker] = {}
_running = False  # workers start once the server's event loop runs


def reconcile(key: store.Key, transition: str) -> None:
    """Act on a change of ``key``'s definition or desired state (CREATE, UPDATE, START,
    STOP, DELETE)."""
    with _lock:
        previous = _workers.pop(key, None)
        if previous is not None:
            previous.stop.set()
        if not _running:
            _settle_offline(key)
            return
        worker = _Worker()
        worker.thread = threading.Thread(target=_run, args=(key, transition, worker, previous),
                                         name=f"pipe-{key[2]}", daemon=True)
        _workers[key] = worker
        worker.thread.start()


def _settle_offline(key: store.Key) -> None:
    record = store.get(key)
    if record and record["DesiredState"] == "DELETED":
        store.remove(key)
    elif record and record["DesiredState"] == "STOPPED":
        store.set_state(key, "STOPPED")


def _run(key: store.Key, transition: str, worker: _Worker, previous: _Worker | None) -> None:
    if previous is not None and previous.thread is not None:
        previous.thread.join()  # the batch in hand is finished first
    try:
        _settle(key, transition, worker)
    except Exception:
        logger.exception("pipe %s: worker failed", key[2])
    finally:
        with _lock:
            if _workers.get(key) is worker:
                _workers.pop(key)


def _settle(key: store.Key, transition: str, worker: _Worker) -> None:
    record = store.get(key)
    if record is None or worker.stop.is_set():
        return
    if record["DesiredState"] == "DELETED":
        store.remove(key)
        return
    if record["DesiredState"] == "STOPPED":
        store.set_state(key, "STOPPED")
        return
    reason = check_source(record)
    if reason:
        store.set_state(key, f"{transition if transition != 'BOOT' else 'START'}_FAILED", reason)
        return
    reason = standard_workflow_reason(record)
    if reason:  # "A pipe may be automatically stopped with an updated StateReason"
        store.set_state(key, "STOPPED", reason)
        return
    poll_source(key, worker.stop, ready=lambda: store.set_state(key, "RUNNING"))


def start() -> None:
    global _running
    with _lock:
        _running = True
    for key in store.all_keys():
        record = store.get(key)
        if record:
            reconcile(key, "BOOT" if record["CurrentState"] == "RUNNING" else _transition_of(record))


def _transition_of(record: dict) -> str:
    return {"CREATING": "CREATE", "UPDATING": "UPDATE", "DELETING": "DELETE", "STOPPING": "STOP"}.get(
        record["CurrentState"], "START")


def stop() -> None:
    """The server stops: every worker finishes its batch in hand; states stay as they are
    (a running pipe runs again after a restart with persistence)."""
    global _running
    with _lock:
        _running = False
        workers = list(_workers.values())
        _workers.clear()
    for worker in workers:
        worker.stop.set()
    from localcloud.services.pipes.sources import sqs

    sqs.notify_enqueued()
    for worker in workers:
        if worker.thread is not None:
            worker.thread.join(timeout=30)
