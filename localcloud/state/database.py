"""The local cloud's one SQLite database: where logs, archived events, DynamoDB items and
(with persistence on) the snapshot of every service's state live.

One file, so that a checkpoint commits the state of every service and every store in one
transaction. WAL mode: readers never wait for the writer, and a killed process leaves
the last committed transaction intact. Writes are serialised by one lock (SQLite takes
one writer at a time anyway; waiting on a Python lock beats SQLite's busy-sleep), reads
use a small pool of connections so that memory does not grow with the number of threads.

With persistence off the file lives under ``<home>/scratch`` and is removed at every
start; with it on, under ``<home>/state`` and kept.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger("localcloud.state")

FILE_NAME = "localcloud.sqlite3"
READERS = 4
# Per connection: SQLite's default page cache is 2 MB; the stores are read in ranges.
CACHE_KIB = 1024


class StateUnreadable(RuntimeError):
    """The saved state exists but cannot be used; the message says what to do."""


class Database:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._write_lock = threading.RLock()
        self._writer = self._connect()
        self._readers: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        for _ in range(READERS):
            self._readers.put(self._connect())
        self._schemas: set[str] = set()

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=60)
        connection.execute("PRAGMA journal_mode=WAL")
        # NORMAL: a commit survives the process being killed (the WAL is in the page
        # cache); checkpoints commit with FULL, which also syncs everything before them.
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        connection.execute("PRAGMA temp_store=MEMORY")
        return connection

    def ensure_schema(self, name: str, ddl: str) -> None:
        """Create a store's tables once per process (``CREATE … IF NOT EXISTS``)."""
        if name in self._schemas:
            return
        with self._write_lock:
            self._writer.executescript(ddl)  # its own transaction
        self._schemas.add(name)

    @contextlib.contextmanager
    def write(self, durable: bool = False) -> Iterator[sqlite3.Connection]:
        """One write transaction; ``durable`` commits with fsync (power loss too)."""
        with self._write_lock:
            connection = self._writer
            if durable:
                connection.execute("PRAGMA synchronous=FULL")
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            else:
                connection.execute("COMMIT")
            finally:
                if durable:
                    connection.execute("PRAGMA synchronous=NORMAL")

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A connection for reading (its own snapshot of the data per statement)."""
        connection = self._readers.get()
        try:
            yield connection
        finally:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            self._readers.put(connection)

    def close(self) -> None:
        with self._write_lock:
            self._writer.close()
        while not self._readers.empty():
            self._readers.get_nowait().close()


def check_readable(path: Path) -> None:
    """Refuse a file that is not a SQLite database, saying what to do. (A damaged page
    further in shows when the snapshot is read back, which reports it the same way.)"""
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            connection.execute("SELECT count(*) FROM sqlite_schema").fetchone()
        finally:
            connection.close()
    except sqlite3.DatabaseError as error:
        raise StateUnreadable(advice(path, str(error))) from error


def advice(path: Path, problem: str) -> str:
    """What to tell the user about unusable saved state in ``path``'s folder."""
    state_dir = path.parent
    return (f"the saved state in {state_dir} cannot be used ({problem}). Nothing was changed. To keep it for "
            f"inspection, move the folder away (mv {state_dir} {state_dir}.broken); to start from nothing, "
            f"remove it (rm -rf {state_dir}); then run `make up` again. `LOCALCLOUD_PERSIST=0 make up` starts "
            f"without saved state and leaves the folder alone.")


_database: Database | None = None
_guard = threading.Lock()


def open_database(directory: Path, fresh: bool) -> Database:
    """Open (``fresh``: recreate) the process's database in ``directory``."""
    global _database
    with _guard:
        if _database is not None:
            return _database
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / FILE_NAME
        if fresh:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        elif path.exists():
            check_readable(path)
        _database = Database(path)
        logger.info("state database %s (%s)", path, "fresh" if fresh else "kept")
        return _database


def database() -> Database:
    """The process's database; opened by ``localcloud.state.storage.start`` at start."""
    if _database is None:
        raise RuntimeError("the state database is not open yet")
    return _database


def close_database() -> None:
    global _database
    with _guard:
        if _database is not None:
            _database.close()
            _database = None
