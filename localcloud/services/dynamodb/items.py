"""A DynamoDB table's items on disk: the mapping ministack keeps in ``table["items"]``
(partition key -> sort key -> item), backed by rows of the local cloud's SQLite database.

ministack reads and writes items only through that mapping (``get``, ``[]``,
``setdefault``, ``pop``, iteration) and always stores a new item object rather than
changing a stored one in place, so every item operation keeps its exact semantics
(conditions, update expressions, return values) while the items themselves stay off the
heap. Each read returns a fresh item decoded from its row.

Deep-copying the mapping (ministack's ``get_state``, for the snapshot) gives a small
marker naming the table's rows instead of every item: the rows are already durable.
Copying one partition, or ``dict()`` of the mapping (a transaction's rollback copy),
gives plain dicts, as before.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, MutableMapping

from localcloud import seams
from localcloud.state import database

SCHEMA = """
CREATE TABLE IF NOT EXISTS dynamodb_items (
    table_id TEXT NOT NULL, pk TEXT NOT NULL, sk TEXT NOT NULL, item TEXT NOT NULL,
    PRIMARY KEY (table_id, pk, sk)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dynamodb_tables (table_id TEXT PRIMARY KEY);
"""
MARKER = "__localcloud_items_on_disk__"


def _db():
    db = database()
    db.ensure_schema("dynamodb", SCHEMA)
    return db


def _encode(item: dict) -> str:
    return json.dumps(item, separators=(",", ":"))


class Partition(MutableMapping):
    """Sort key -> item, for one partition key."""

    def __init__(self, table_id: str, pk: str) -> None:
        self.table_id, self.pk = table_id, str(pk)

    def __getitem__(self, sk):
        with _db().read() as connection:
            row = connection.execute("SELECT item FROM dynamodb_items WHERE table_id=? AND pk=? AND sk=?",
                                     (self.table_id, self.pk, str(sk))).fetchone()
        if row is None:
            raise KeyError(sk)
        return json.loads(row[0])

    def __setitem__(self, sk, item) -> None:
        with _db().write() as connection:
            connection.execute("INSERT INTO dynamodb_items(table_id, pk, sk, item) VALUES (?, ?, ?, ?) "
                               "ON CONFLICT DO UPDATE SET item = excluded.item",
                               (self.table_id, self.pk, str(sk), _encode(item)))

    def __delitem__(self, sk) -> None:
        if self.pop(sk, None) is None:
            raise KeyError(sk)

    def pop(self, sk, *default):
        with _db().write() as connection:
            row = connection.execute("DELETE FROM dynamodb_items WHERE table_id=? AND pk=? AND sk=? RETURNING item",
                                     (self.table_id, self.pk, str(sk))).fetchone()
        if row is None:
            if default:
                return default[0]
            raise KeyError(sk)
        return json.loads(row[0])

    def __contains__(self, sk) -> bool:
        with _db().read() as connection:
            return connection.execute("SELECT 1 FROM dynamodb_items WHERE table_id=? AND pk=? AND sk=?",
                                      (self.table_id, self.pk, str(sk))).fetchone() is not None

    def _rows(self) -> list[tuple[str, str]]:
        with _db().read() as connection:
            return connection.execute("SELECT sk, item FROM dynamodb_items WHERE table_id=? AND pk=? ORDER BY sk",
                                      (self.table_id, self.pk)).fetchall()

    def __iter__(self) -> Iterator[str]:
        return iter([sk for sk, _item in self._rows()])

    def __len__(self) -> int:
        with _db().read() as connection:
            return connection.execute("SELECT count(*) FROM dynamodb_items WHERE table_id=? AND pk=?",
                                      (self.table_id, self.pk)).fetchone()[0]

    def values(self):
        return [json.loads(item) for _sk, item in self._rows()]

    def items(self):
        return [(sk, json.loads(item)) for sk, item in self._rows()]

    def __deepcopy__(self, memo) -> dict:
        return dict(self.items())

    def __repr__(self) -> str:
        return f"Partition({self.table_id!r}, {self.pk!r})"


class ItemStore(MutableMapping):
    """Partition key -> Partition: ``defaultdict(dict)``'s behaviour, on disk."""

    def __init__(self, table_id: str) -> None:
        self.table_id = table_id

    def __getitem__(self, pk) -> Partition:  # as defaultdict: every key has a (maybe empty) partition
        return Partition(self.table_id, pk)

    def get(self, pk, default=None):
        return Partition(self.table_id, pk) if pk in self else default

    def setdefault(self, pk, default=None) -> Partition:
        return Partition(self.table_id, pk)

    def __setitem__(self, pk, items) -> None:
        with _db().write() as connection:
            connection.execute("DELETE FROM dynamodb_items WHERE table_id=? AND pk=?", (self.table_id, str(pk)))
            connection.executemany("INSERT INTO dynamodb_items(table_id, pk, sk, item) VALUES (?, ?, ?, ?)",
                                   [(self.table_id, str(pk), str(sk), _encode(item)) for sk, item in dict(items).items()])

    def __delitem__(self, pk) -> None:
        with _db().write() as connection:
            connection.execute("DELETE FROM dynamodb_items WHERE table_id=? AND pk=?", (self.table_id, str(pk)))

    def __contains__(self, pk) -> bool:
        with _db().read() as connection:
            return connection.execute("SELECT 1 FROM dynamodb_items WHERE table_id=? AND pk=? LIMIT 1",
                                      (self.table_id, str(pk))).fetchone() is not None

    def keys(self):
        if seams.dynamodb.in_ministack_ttl_thread():
            return []  # TTL is swept in SQL (ttl.py), not by reading every item each minute
        with _db().read() as connection:
            return [pk for (pk,) in connection.execute("SELECT DISTINCT pk FROM dynamodb_items WHERE table_id=? "
                                                       "ORDER BY pk", (self.table_id,))]

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def values(self):
        return [Partition(self.table_id, pk) for pk in self.keys()]

    def items(self):
        return [(pk, Partition(self.table_id, pk)) for pk in self.keys()]

    def count(self) -> int:
        with _db().read() as connection:
            return connection.execute("SELECT count(*) FROM dynamodb_items WHERE table_id=?",
                                      (self.table_id,)).fetchone()[0]

    def replace_all(self, partitions: dict) -> None:
        """Make the rows exactly ``partitions`` (pk -> sk -> item), in one transaction."""
        with _db().write() as connection:
            connection.execute("DELETE FROM dynamodb_items WHERE table_id=?", (self.table_id,))
            connection.executemany("INSERT INTO dynamodb_items(table_id, pk, sk, item) VALUES (?, ?, ?, ?)",
                                   [(self.table_id, str(pk), str(sk), _encode(item))
                                    for pk, items in partitions.items() for sk, item in dict(items).items()])
            connection.execute("INSERT OR IGNORE INTO dynamodb_tables(table_id) VALUES (?)", (self.table_id,))

    def __deepcopy__(self, memo) -> dict:
        return {MARKER: self.table_id}

    def __repr__(self) -> str:
        return f"ItemStore({self.table_id!r})"


def marker_table_id(items) -> str | None:
    """The table id a restored snapshot's marker names, or None for real items."""
    if isinstance(items, dict) and len(items) == 1 and isinstance(items.get(MARKER), str):
        return items[MARKER]
    return None


def known_table_ids() -> set[str]:
    with _db().read() as connection:
        return {table_id for (table_id,) in connection.execute("SELECT table_id FROM dynamodb_tables")}


def drop_table(table_id: str) -> None:
    with _db().write() as connection:
        connection.execute("DELETE FROM dynamodb_items WHERE table_id=?", (table_id,))
        connection.execute("DELETE FROM dynamodb_tables WHERE table_id=?", (table_id,))


def expire(table_id: str, attribute: str, now: float, batch: int = 5000) -> list[tuple[str, str]]:
    """Delete up to ``batch`` items whose Number attribute ``attribute`` (epoch seconds)
    is past, but no more than five years past ("items with an expiration time greater
    than five years in the past are not deleted"); returns their (pk, sk)."""
    path = "$." + json.dumps(attribute) + ".N"
    with _db().write() as connection:
        return connection.execute(
            "DELETE FROM dynamodb_items WHERE (table_id, pk, sk) IN ("
            "SELECT table_id, pk, sk FROM dynamodb_items WHERE table_id=? AND "
            "CAST(json_extract(item, ?) AS REAL) BETWEEN ? AND ? LIMIT ?) RETURNING pk, sk",
            (table_id, path, now - 5 * 365 * 86_400, now, batch)).fetchall()
