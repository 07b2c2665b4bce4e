"""Crash-safe persistence (LOCALCLOUD_PERSIST=1): every service's state as one snapshot,
committed atomically to the state database at least every LOCALCLOUD_CHECKPOINT_SECONDS
(default 0.5), with fsync.

A checkpoint copies and encodes the stores it saves at one instant: meanwhile the
interpreter's thread switch interval is raised, so the pollers, execution threads and
Lambda invocations that mutate stores off the event loop wait a few milliseconds rather
than change a store half-copied. Then only the parts whose bytes changed are written, in
one transaction. Which stores: those the data path changes with
no API call to their service (queues, executions, buses, functions, log groups, tables,
our extensions') every time; all of them ("full") when an API call may have changed
another service, while a CloudFormation operation runs, and at least every few seconds.
Logs, archived events and DynamoDB items are not in the snapshot: they are rows of the
same database, committed as they are written.

So a SIGKILL loses at most what happened since the last checkpoint: work acknowledged in
the last half second or so. EXPRESS executions the kill interrupted run again after the
restore (``resume``). A stack status the API reports as finished is always in the
snapshot (the CloudFormation API waits for a full checkpoint first), so deployed stacks
survive a kill right after ``make deploy``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from localcloud import seams
from localcloud.state.database import Database, StateUnreadable, advice

logger = logging.getLogger("localcloud.state")

SCHEMA = """
CREATE TABLE IF NOT EXISTS snapshot_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS snapshot_parts (
    name TEXT PRIMARY KEY, format INTEGER NOT NULL, digest TEXT NOT NULL, payload BLOB NOT NULL);
"""
FORMAT = 1  # of the snapshot tables themselves; each part carries its service's own format
EXTENSION_PREFIX = "localcloud_"
PAUSE_S = 5.0  # thread switch interval while copying: longer than any copy and encoding takes
COPY_ATTEMPTS = 5
# State keys of the services the data path changes without an API call to them (pollers,
# rule targets, executions, Lambda's log groups, TTL): saved by every checkpoint.
HOT = frozenset({"sqs", "stepfunctions", "eventbridge", "lambda", "cloudwatch_logs", "dynamodb"})
FULL_AT_LEAST_EVERY_S = 5.0  # background changes in other services (none expected) are saved within this
FULL_AT_MOST_EVERY_S = 1.0  # unless a caller waits for durability


def interval() -> float:
    return float(os.environ.get("LOCALCLOUD_CHECKPOINT_SECONDS", "0.5"))


def _digest(payload: bytes) -> str:
    return hashlib.blake2b(payload, digest_size=20).hexdigest()


def _copy(get_state: Callable[[], Any]) -> Any:
    """A service's get_state, retried when a thread that held the interpreter anyway
    (one blocked in I/O just before the pause) changed a dict during the copy."""
    for attempt in range(COPY_ATTEMPTS):
        try:
            return get_state()
        except RuntimeError as error:
            if "changed size during iteration" not in str(error) or attempt == COPY_ATTEMPTS - 1:
                raise
    return None


class Snapshots:
    def __init__(self, db: Database, extension_states: dict[str, Callable[[], dict]]) -> None:
        self.db = db
        self.extension_states = extension_states
        db.ensure_schema("snapshot", SCHEMA)
        self._digests: dict[str, str] = {}
        self._synced_blobs: set[str] = set()
        self._committed_stacks: dict[str, str] = {}
        self._condition = threading.Condition()
        self._begun = 0  # checkpoints started
        self._done = 0  # the newest started checkpoint that committed
        self._requested = False
        self._full_requested = True
        self._last_full = 0.0
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.last_duration_s = 0.0
        seams.persistence.defer_lambda_blob_pruning()
        seams.persistence.watch_writes(self._on_write)

    def _on_write(self, service: str) -> None:
        if seams.persistence.state_key_of_service(service) not in HOT:
            self._full_requested = True

    # --- writing --------------------------------------------------------------------------

    def _wants_full(self) -> bool:
        now = time.monotonic()
        if now - self._last_full >= FULL_AT_LEAST_EVERY_S:
            return True
        if now - self._last_full < FULL_AT_MOST_EVERY_S:
            return False
        return self._full_requested or any(status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS"
                                           for status in seams.persistence.stack_statuses().values())

    def _collect(self, full: bool) -> tuple[dict[str, tuple[int, bytes]], dict[str, str]]:
        """Every part, copied and encoded in one pause of the other threads: one instant
        for all services, and a copy→commit time that does not stretch with how busy the
        interpreter is (what a kill can lose is the interval plus that time)."""
        getters = {k: v for k, v in seams.persistence.state_getters().items() if full or k in HOT}
        parts: dict[str, tuple[int, Any]] = {}
        previous = sys.getswitchinterval()
        sys.setswitchinterval(PAUSE_S)
        try:
            # Before any copy: a getter that waits on a lock lets other threads run, and a
            # stack finishing then would count as saved while the copy holds it in progress.
            stacks = seams.persistence.stack_statuses()
            for key, get_state in getters.items():
                parts[key] = (seams.persistence.format_version(key), _copy(get_state))
            for name, get_state in self.extension_states.items():
                parts[EXTENSION_PREFIX + name] = (1, _copy(get_state))
            encoded = {name: (fmt, seams.persistence.encode(data)) for name, (fmt, data) in parts.items()
                       if data is not None}
        finally:
            sys.setswitchinterval(previous)
        return encoded, stacks

    def checkpoint(self, full: bool | None = None) -> int:
        """Write one snapshot; returns how many parts changed."""
        with self._condition:
            self._begun += 1
            number = self._begun
        started = time.monotonic()
        full = self._wants_full() if full is None else full
        if full:
            self._full_requested = False
            self._last_full = started
        encoded, stacks = self._collect(full)
        digests = {name: _digest(payload) for name, (_fmt, payload) in encoded.items()}
        changed = [name for name in encoded if digests[name] != self._digests.get(name)]
        removed = [name for name in self._digests if name not in encoded and (full or name in HOT)]
        digests = {**{k: v for k, v in self._digests.items() if k not in removed}, **digests}
        if changed or removed:
            self._sync_new_blobs()
            with self.db.write(durable=True) as connection:
                connection.executemany(
                    "INSERT INTO snapshot_parts(name, format, digest, payload) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(name) DO UPDATE SET format=excluded.format, digest=excluded.digest, "
                    "payload=excluded.payload",
                    [(name, encoded[name][0], digests[name], encoded[name][1]) for name in changed])
                connection.executemany("DELETE FROM snapshot_parts WHERE name = ?", [(n,) for n in removed])
                connection.executemany("INSERT OR REPLACE INTO snapshot_meta(key, value) VALUES (?, ?)", [
                    ("format", str(FORMAT)), ("saved_at", f"{time.time():.3f}"),
                    ("ministack", seams.ministack_version())])
            self._digests = digests
            seams.persistence.prune_lambda_blobs()
        if full:  # only a full checkpoint saves CloudFormation
            self._committed_stacks = stacks
        self.last_duration_s = time.monotonic() - started
        logger.log(logging.WARNING if self.last_duration_s > 1.0 else logging.DEBUG,  # the loss window grows
                   "checkpoint %d (%s): %d of %d parts changed, %.0f ms", number, "full" if full else "hot",
                   len(changed) + len(removed), len(encoded), self.last_duration_s * 1000)
        with self._condition:
            self._done = number
            self._condition.notify_all()
        return len(changed) + len(removed)

    def _sync_new_blobs(self) -> None:
        """Lambda code files the snapshot refers to reach the disk before it does."""
        new = [p for p in seams.persistence.lambda_blob_files() if p.name not in self._synced_blobs]
        if new:
            fsync_paths(new)
            self._synced_blobs.update(p.name for p in new)

    def durable(self, timeout: float = 10.0) -> bool:
        """Block until a checkpoint that began after this call has committed."""
        deadline = time.monotonic() + timeout
        with self._condition:
            target = self._begun + 1
            self._requested = True
            self._full_requested = True
            self._last_full = min(self._last_full, time.monotonic() - FULL_AT_MOST_EVERY_S)
            self._condition.notify_all()
            while self._done < target and not self._stopping:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._condition.wait(remaining)
        return self._done >= target

    def finished_stacks_not_durable(self) -> bool:
        """A stack reached a final status that the last committed snapshot does not hold."""
        current = seams.persistence.stack_statuses()
        return any(self._committed_stacks.get(stack_id) != status and not status.endswith("_IN_PROGRESS")
                   for stack_id, status in current.items())

    def _run(self) -> None:
        while True:
            with self._condition:
                self._condition.wait_for(lambda: self._requested or self._stopping, timeout=interval())
                if self._stopping:
                    return
                self._requested = False
            try:
                self.checkpoint()
            except Exception:
                logger.exception("checkpoint failed: state since the last one is not saved yet; retrying")
                time.sleep(1.0)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="localcloud-checkpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the periodic checkpoints and write a last one (a graceful stop)."""
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.checkpoint(full=True)

    # --- reading --------------------------------------------------------------------------

    def restore(self, extension_restores: dict[str, Callable[[dict], None]]) -> dict:
        """Load the last snapshot into every service; returns what was done."""
        try:
            with self.db.read() as connection:
                meta = dict(connection.execute("SELECT key, value FROM snapshot_meta").fetchall())
                rows = connection.execute("SELECT name, format, digest, payload FROM snapshot_parts").fetchall()
        except Exception as error:  # sqlite3.DatabaseError: a damaged page
            raise StateUnreadable(advice(self.db.path, str(error))) from error
        if int(meta.get("format", FORMAT)) > FORMAT:
            raise StateUnreadable(advice(self.db.path, f"snapshot format {meta['format']} is newer than this "
                                                       f"local cloud understands ({FORMAT})"))
        parts = {}
        for name, fmt, digest, payload in rows:
            if _digest(payload) != digest:
                raise StateUnreadable(advice(self.db.path, f"the saved state of {name} is damaged"))
            if not name.startswith(EXTENSION_PREFIX) and fmt > seams.persistence.format_version(name):
                raise StateUnreadable(advice(self.db.path, f"{name} was saved by a newer ministack ({fmt})"))
            parts[name] = seams.persistence.decode(payload)
            self._digests[name] = digest
        dropped = seams.persistence.drop_s3_buckets_not_in(seams.persistence.s3_bucket_keys(parts.get("s3")))
        interrupted = seams.persistence.interrupted_async_express_executions(parts.get("stepfunctions"))
        for key in seams.persistence.state_keys():
            if key in parts:
                seams.persistence.restore_service(key, parts[key])
        for name, restore in extension_restores.items():
            if EXTENSION_PREFIX + name in parts:
                restore(parts[EXTENSION_PREFIX + name])
        settled = seams.persistence.settle_interrupted_stacks()
        self._committed_stacks = seams.persistence.stack_statuses()
        return {"parts": len(parts), "saved_at": meta.get("saved_at"), "dropped_s3_buckets": dropped,
                "settled_stacks": settled, "interrupted_executions": interrupted}

    @staticmethod
    def resume(summary: dict) -> None:
        """Run again the EXPRESS executions the kill interrupted: started asynchronously
        (by a rule, a pipe), they run at least once on AWS too ("an execution might run more
        than once"); synchronous ones run at most once and stay failed."""
        for account, region, exec_arn in summary.get("interrupted_executions", []):
            seams.persistence.run_execution_again(account, region, exec_arn)


def fsync_paths(paths: list) -> None:
    """Force files, and the folders that name them, to disk."""
    for path in list(paths) + sorted({p.parent for p in paths}):
        try:
            descriptor = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
