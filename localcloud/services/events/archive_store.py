"""Archived EventBridge events, on disk in the local cloud's SQLite database: one row per
event per archive, with the archive's running EventCount and SizeBytes."""

from __future__ import annotations

import json
from collections.abc import Iterator

from localcloud.state import database

SCHEMA = """
CREATE TABLE IF NOT EXISTS archive_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, account TEXT NOT NULL, region TEXT NOT NULL, archive TEXT NOT NULL,
    event_time REAL NOT NULL, size INTEGER NOT NULL, event TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS archive_events_by_time ON archive_events (account, region, archive, event_time, id);
CREATE TABLE IF NOT EXISTS archive_totals (
    account TEXT NOT NULL, region TEXT NOT NULL, archive TEXT NOT NULL, events INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (account, region, archive));
"""
CHUNK = 500


def _db():
    db = database()
    db.ensure_schema("archives", SCHEMA)
    return db


def add(account: str, region: str, archives: list[str], event: dict) -> None:
    """Keep ``event`` in each of ``archives``; its size is the size of the event as kept."""
    text = json.dumps(event, separators=(",", ":"), default=str)
    size = len(text.encode("utf-8", "surrogatepass"))
    event_time = float(event.get("Time") or 0)
    with _db().write() as connection:
        for archive in archives:
            connection.execute("INSERT INTO archive_events(account, region, archive, event_time, size, event) "
                               "VALUES (?, ?, ?, ?, ?, ?)", (account, region, archive, event_time, size, text))
            connection.execute("INSERT INTO archive_totals(account, region, archive, events, bytes) VALUES "
                               "(?, ?, ?, 1, ?) ON CONFLICT DO UPDATE SET events = events + 1, bytes = bytes + ?",
                               (account, region, archive, size, size))


def totals(account: str, region: str, archive: str) -> tuple[int, int]:
    """(EventCount, SizeBytes)."""
    with _db().read() as connection:
        row = connection.execute("SELECT events, bytes FROM archive_totals WHERE account=? AND region=? AND archive=?",
                                 (account, region, archive)).fetchone()
    return (row[0], row[1]) if row else (0, 0)


def events_between(account: str, region: str, archive: str, start: float, end: float) -> Iterator[dict]:
    """Archived events with ``start <= Time <= end``, oldest first, read a chunk at a time."""
    position = (start - 1, 0)
    db = _db()
    while True:
        with db.read() as connection:
            rows = connection.execute(
                "SELECT id, event_time, event FROM archive_events WHERE account=? AND region=? AND archive=? "
                "AND event_time <= ? AND (event_time, id) > (?, ?) AND event_time >= ? ORDER BY event_time, id "
                f"LIMIT {CHUNK}", (account, region, archive, end, *position, start)).fetchall()
        for _row_id, _time, text in rows:
            yield json.loads(text)
        if len(rows) < CHUNK:
            return
        position = (rows[-1][1], rows[-1][0])


def drop(account: str, region: str, archive: str) -> None:
    with _db().write() as connection:
        connection.execute("DELETE FROM archive_events WHERE account=? AND region=? AND archive=?",
                           (account, region, archive))
        connection.execute("DELETE FROM archive_totals WHERE account=? AND region=? AND archive=?",
                           (account, region, archive))


def expire(account: str, region: str, archive: str, older_than: float, batch: int = 5000) -> int:
    """Delete up to ``batch`` events whose Time is before ``older_than``; returns how many."""
    with _db().write() as connection:
        rows = connection.execute(
            "DELETE FROM archive_events WHERE id IN (SELECT id FROM archive_events WHERE account=? AND region=? "
            "AND archive=? AND event_time < ? ORDER BY event_time LIMIT ?) RETURNING size",
            (account, region, archive, older_than, batch)).fetchall()
        if rows:
            connection.execute("UPDATE archive_totals SET events = max(0, events - ?), bytes = max(0, bytes - ?) "
                               "WHERE account=? AND region=? AND archive=?",
                               (len(rows), sum(r[0] for r in rows), account, region, archive))
    return len(rows)


def stored_archives() -> list[tuple[str, str, str]]:
    with _db().read() as connection:
        return [tuple(r) for r in connection.execute("SELECT account, region, archive FROM archive_totals")]
