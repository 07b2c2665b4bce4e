"""Log streams and log events, on disk in the local cloud's SQLite database.

Log groups stay ministack's (names, retention, tags, subscription filters: a few
records); this store keeps a row per group only as a key for its streams and events.
Events are read in (timestamp, insertion) order, which is also the order of their ids,
so a position in a log is ``(timestamp, id)`` and paging never holds a read open.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from localcloud.state import database

SCHEMA = """
CREATE TABLE IF NOT EXISTS log_groups (
    id INTEGER PRIMARY KEY AUTOINCREMENT, account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL,
    stored_bytes INTEGER NOT NULL DEFAULT 0, UNIQUE (account, region, name));
CREATE TABLE IF NOT EXISTS log_streams (
    id INTEGER PRIMARY KEY AUTOINCREMENT, group_id INTEGER NOT NULL, name TEXT NOT NULL, created INTEGER NOT NULL,
    first_ts INTEGER, last_ts INTEGER, last_ingest INTEGER, sequence INTEGER NOT NULL DEFAULT 1,
    UNIQUE (group_id, name));
CREATE INDEX IF NOT EXISTS log_streams_by_last_event ON log_streams (group_id, last_ts, name);
CREATE TABLE IF NOT EXISTS log_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, group_id INTEGER NOT NULL, stream_id INTEGER NOT NULL,
    ts INTEGER NOT NULL, ingested INTEGER NOT NULL, message TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS log_events_by_group ON log_events (group_id, ts, id);
CREATE INDEX IF NOT EXISTS log_events_by_stream ON log_events (stream_id, ts, id);
"""

CHUNK = 1000  # rows per read statement


@dataclass(frozen=True)
class Stream:
    id: int
    name: str
    created: int
    first_ts: int | None
    last_ts: int | None
    last_ingest: int | None
    sequence: int


@dataclass(frozen=True)
class Event:
    id: int
    stream: str
    timestamp: int
    ingestion_time: int
    message: str

    @property
    def event_id(self) -> str:
        return format_event_id(self.id)


def format_event_id(row_id: int) -> str:
    """Event ids are 56-digit strings on AWS; ours are the row id, zero-padded."""
    return f"{row_id:056d}"


def parse_event_id(event_id: str) -> int | None:
    return int(event_id) if isinstance(event_id, str) and event_id.isdigit() else None


_STREAM_COLUMNS = "id, name, created, first_ts, last_ts, last_ingest, sequence"
_group_ids: dict[tuple[str, str, str], int] = {}
_group_ids_lock = threading.Lock()


def _db():
    db = database()
    db.ensure_schema("logs", SCHEMA)
    return db


def group_id(account: str, region: str, name: str, create: bool = False) -> int | None:
    key = (account, region, name)
    with _group_ids_lock:
        if key in _group_ids:
            return _group_ids[key]
    db = _db()
    with db.read() as connection:
        row = connection.execute("SELECT id FROM log_groups WHERE account=? AND region=? AND name=?", key).fetchone()
    if row is None and create:
        with db.write() as connection:
            connection.execute("INSERT OR IGNORE INTO log_groups(account, region, name) VALUES (?, ?, ?)", key)
            row = connection.execute("SELECT id FROM log_groups WHERE account=? AND region=? AND name=?",
                                     key).fetchone()
    if row is None:
        return None
    with _group_ids_lock:
        _group_ids[key] = row[0]
    return row[0]


def stored_groups() -> list[tuple[str, str, str]]:
    with _db().read() as connection:
        return [tuple(r) for r in connection.execute("SELECT account, region, name FROM log_groups").fetchall()]


def group_bytes(gid: int) -> int:
    with _db().read() as connection:
        row = connection.execute("SELECT stored_bytes FROM log_groups WHERE id=?", (gid,)).fetchone()
    return row[0] if row else 0


def create_stream(gid: int, name: str, created_ms: int) -> bool:
    """False when the stream exists already."""
    with _db().write() as connection:
        cursor = connection.execute("INSERT OR IGNORE INTO log_streams(group_id, name, created) VALUES (?, ?, ?)",
                                    (gid, name, created_ms))
        return cursor.rowcount == 1


def stream(gid: int, name: str) -> Stream | None:
    with _db().read() as connection:
        row = connection.execute(f"SELECT {_STREAM_COLUMNS} FROM log_streams WHERE group_id=? AND name=?",
                                 (gid, name)).fetchone()
    return Stream(*row) if row else None


def streams_named(gid: int, names: Iterable[str]) -> list[Stream]:
    names = list(names)
    if not names:
        return []
    with _db().read() as connection:
        rows = connection.execute(f"SELECT {_STREAM_COLUMNS} FROM log_streams WHERE group_id=? AND name IN "
                                  f"({','.join('?' * len(names))})", (gid, *names)).fetchall()
    return [Stream(*r) for r in rows]


def streams_with_prefix(gid: int, prefix: str) -> list[Stream]:
    with _db().read() as connection:
        rows = connection.execute(f"SELECT {_STREAM_COLUMNS} FROM log_streams WHERE group_id=? AND name >= ? "
                                  "AND substr(name, 1, ?) = ?", (gid, prefix, len(prefix), prefix)).fetchall()
    return [Stream(*r) for r in rows]


def list_streams(gid: int, *, prefix: str, by_last_event: bool, descending: bool, after: tuple | None,
                 limit: int) -> list[Stream]:
    """A page of streams: by name (from ``after`` = (name,)) or by last event time
    (``after`` = (last_ts, name))."""
    order = "DESC" if descending else "ASC"
    compare = "<" if descending else ">"
    where, args = ["group_id = ?"], [gid]
    if prefix:
        where.append("substr(name, 1, ?) = ?")
        args += [len(prefix), prefix]
    if by_last_event:
        if after is not None:
            where.append(f"(coalesce(last_ts, 0), name) {compare} (?, ?)")
            args += list(after)
        sql_order = f"coalesce(last_ts, 0) {order}, name {order}"
    else:
        if after is not None:
            where.append(f"name {compare} ?")
            args.append(after[0])
        sql_order = f"name {order}"
    with _db().read() as connection:
        rows = connection.execute(f"SELECT {_STREAM_COLUMNS} FROM log_streams WHERE {' AND '.join(where)} "
                                  f"ORDER BY {sql_order} LIMIT ?", (*args, limit)).fetchall()
    return [Stream(*r) for r in rows]


def append(gid: int, stream_name: str, events: list[tuple[int, str]], ingested_ms: int,
           create_stream_at: int | None = None) -> tuple[list[Event], int] | None:
    """Store ``events`` ((timestamp, message), in order) in a stream; returns the stored
    events and the stream's next sequence number, or None when the stream does not
    exist (``create_stream_at``: create it, as a service writing its own logs does)."""
    with _db().write() as connection:
        if create_stream_at is not None:
            connection.execute("INSERT OR IGNORE INTO log_streams(group_id, name, created) VALUES (?, ?, ?)",
                               (gid, stream_name, create_stream_at))
        row = connection.execute("SELECT id, first_ts, last_ts FROM log_streams WHERE group_id=? AND name=?",
                                 (gid, stream_name)).fetchone()
        if row is None:
            return None
        stream_id, first_ts, last_ts = row
        stored = []
        size = 0
        for timestamp, message in events:
            cursor = connection.execute(
                "INSERT INTO log_events(group_id, stream_id, ts, ingested, message) VALUES (?, ?, ?, ?, ?)",
                (gid, stream_id, timestamp, ingested_ms, message))
            stored.append(Event(cursor.lastrowid, stream_name, timestamp, ingested_ms, message))
            size += len(message.encode("utf-8", "surrogatepass"))
        if stored:
            lowest = min(e.timestamp for e in stored)
            highest = max(e.timestamp for e in stored)
            first_ts = lowest if first_ts is None else min(first_ts, lowest)
            last_ts = highest if last_ts is None else max(last_ts, highest)
        sequence = connection.execute(
            "UPDATE log_streams SET first_ts=?, last_ts=?, last_ingest=?, sequence=sequence+1 WHERE id=? "
            "RETURNING sequence", (first_ts, last_ts, ingested_ms, stream_id)).fetchone()[0]
        connection.execute("UPDATE log_groups SET stored_bytes = stored_bytes + ? WHERE id=?", (size, gid))
    return stored, sequence


def scan_group(gid: int, *, start: int | None, end: int | None, stream_ids: list[int] | None,
               after: tuple[int, int] | None, required: list[str]) -> Iterator[Event]:
    """Events of a group in (timestamp, id) order, after the position ``after``, whose
    message contains every string in ``required`` (a prefilter SQLite runs itself)."""
    where, args = ["e.group_id = ?"], [gid]
    if start is not None:
        where.append("e.ts >= ?")
        args.append(start)
    if end is not None:
        where.append("e.ts <= ?")
        args.append(end)
    if stream_ids is not None:
        where.append(f"e.stream_id IN ({','.join('?' * len(stream_ids))})")
        args += stream_ids
    for needle in required:
        where.append("instr(e.message, ?) > 0")
        args.append(needle)
    sql = (f"SELECT e.id, s.name, e.ts, e.ingested, e.message FROM log_events e JOIN log_streams s "
           f"ON s.id = e.stream_id WHERE {' AND '.join(where)} AND (e.ts, e.id) > (?, ?) "
           f"ORDER BY e.ts, e.id LIMIT {CHUNK}")
    position = after or (-(2**62), 0)
    db = _db()
    while True:
        with db.read() as connection:
            rows = connection.execute(sql, (*args, *position)).fetchall()
        for row in rows:
            yield Event(*row)
        if len(rows) < CHUNK:
            return
        position = (rows[-1][2], rows[-1][0])


def scan_stream(stream_id: int, stream_name: str, *, start: int | None, end: int | None,
                position: tuple[int, int] | None, forward: bool, limit: int) -> list[Event]:
    """Up to ``limit`` events of one stream next to ``position`` (after it going forward,
    before it going backward), returned in ascending order."""
    where, args = ["stream_id = ?"], [stream_id]
    if start is not None:
        where.append("ts >= ?")
        args.append(start)
    if end is not None:
        where.append("ts < ?")
        args.append(end)
    if position is not None:
        where.append(f"(ts, id) {'>' if forward else '<'} (?, ?)")
        args += list(position)
    order = "ASC" if forward else "DESC"
    with _db().read() as connection:
        rows = connection.execute(f"SELECT id, ts, ingested, message FROM log_events WHERE {' AND '.join(where)} "
                                  f"ORDER BY ts {order}, id {order} LIMIT ?", (*args, limit)).fetchall()
    events = [Event(r[0], stream_name, r[1], r[2], r[3]) for r in rows]
    return events if forward else events[::-1]


def event(row_id: int) -> tuple[str, str, str, Event] | None:
    """(account, region, group name, event) of one event id."""
    with _db().read() as connection:
        row = connection.execute(
            "SELECT g.account, g.region, g.name, e.id, s.name, e.ts, e.ingested, e.message FROM log_events e "
            "JOIN log_streams s ON s.id = e.stream_id JOIN log_groups g ON g.id = e.group_id WHERE e.id=?",
            (row_id,)).fetchone()
    return (row[0], row[1], row[2], Event(*row[3:])) if row else None


def delete_stream(gid: int, name: str) -> bool:
    with _db().write() as connection:
        row = connection.execute("SELECT id FROM log_streams WHERE group_id=? AND name=?", (gid, name)).fetchone()
        if row is None:
            return False
        size = connection.execute("SELECT coalesce(sum(length(CAST(message AS BLOB))), 0) FROM log_events "
                                  "WHERE stream_id=?", row).fetchone()[0]
        connection.execute("DELETE FROM log_events WHERE stream_id=?", row)
        connection.execute("DELETE FROM log_streams WHERE id=?", row)
        connection.execute("UPDATE log_groups SET stored_bytes = max(0, stored_bytes - ?) WHERE id=?", (size, gid))
    return True


def delete_group(account: str, region: str, name: str) -> None:
    gid = group_id(account, region, name)
    with _group_ids_lock:
        _group_ids.pop((account, region, name), None)
    if gid is None:
        return
    with _db().write() as connection:
        connection.execute("DELETE FROM log_events WHERE group_id=?", (gid,))
        connection.execute("DELETE FROM log_streams WHERE group_id=?", (gid,))
        connection.execute("DELETE FROM log_groups WHERE id=?", (gid,))


def expire(gid: int, older_than_ms: int, batch: int = 5000) -> int:
    """Delete up to ``batch`` events older than ``older_than_ms``; returns how many."""
    with _db().write() as connection:
        rows = connection.execute(
            "DELETE FROM log_events WHERE id IN (SELECT id FROM log_events WHERE group_id=? AND ts < ? "
            "ORDER BY ts LIMIT ?) RETURNING stream_id, length(CAST(message AS BLOB))",
            (gid, older_than_ms, batch)).fetchall()
        if not rows:
            return 0
        connection.execute("UPDATE log_groups SET stored_bytes = max(0, stored_bytes - ?) WHERE id=?",
                           (sum(r[1] for r in rows), gid))
        for stream_id in {r[0] for r in rows}:
            connection.execute("UPDATE log_streams SET first_ts = (SELECT min(ts) FROM log_events WHERE stream_id=?) "
                               "WHERE id=?", (stream_id, stream_id))
    return len(rows)
