"""DynamoDB items on disk (the local cloud's SQLite database) instead of in memory, and
Time to Live enforced as AWS documents it.

ministack 1.5.33 keeps every item of every table in a dict for good; an idempotency
table (Powertools writes one item per transaction) grows without bound. Here each table's
``items`` mapping is an ``items.ItemStore``: a table is adopted before any DynamoDB
request sees it (and after a restore), whoever created it (CreateTable, CloudFormation),
and a table whose items ministack swapped wholesale (a cancelled transaction, a restore
from backup) is adopted again with exactly those items.

TTL: "DynamoDB automatically deletes expired items within a few days of their
expiration time" and never those expired more than five years ago
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/howitworks-ttl.html);
here the retention sweep deletes them within LOCALCLOUD_RETENTION_SWEEP_SECONDS.
"""

from __future__ import annotations

import logging
import time
import uuid

from localcloud import seams
from localcloud.extension import Extension
from localcloud.services.dynamodb import items
from localcloud.state import retention

logger = logging.getLogger("localcloud.dynamodb")


def adopt(record: dict, restored: bool = False) -> items.ItemStore:
    """Give a table its on-disk items. Items ministack holds in a dict become the rows
    (a new table, a wholesale swap), except in a table just restored from a snapshot
    that was taken before its items moved to disk: rows written since are newer."""
    current = record.get("items")
    if isinstance(current, items.ItemStore):
        return current
    table_id = items.marker_table_id(current)
    if table_id is None:
        table_id = record.get("TableId") or str(uuid.uuid4())
        store = items.ItemStore(table_id)
        if not (restored and table_id in items.known_table_ids()):
            store.replace_all(current or {})
    else:
        store = items.ItemStore(table_id)
    record.setdefault("TableId", table_id)
    record["items"] = store
    count = store.count()
    record["ItemCount"], record["TableSizeBytes"] = count, count * 200  # ministack's size convention
    seams.dynamodb.forget_item_index(record)
    return store


def adopt_all(restored: bool = False) -> None:
    with seams.dynamodb.table_lock():
        for _account, _region, _name, record in seams.dynamodb.all_tables():
            if not isinstance(record.get("items"), items.ItemStore):
                adopt(record, restored)


def _adopting(original):
    async def handler(method, path, headers, body, query_params):
        adopt_all()
        try:
            return await original(method, path, headers, body, query_params)
        finally:
            adopt_all()  # a table this request created is on disk before any snapshot sees it

    return handler


def _delete_table(original):
    def handler(data: dict):
        record = seams.dynamodb.table(seams.dynamodb.table_name_of(data) or "")
        status, headers, body = original(data)
        if status < 300 and record is not None and isinstance(record.get("items"), items.ItemStore):
            items.drop_table(record["items"].table_id)
        return status, headers, body

    return handler


def expire_items() -> int:
    """TTL, plus the rows of tables that no longer exist (deleted by CloudFormation)."""
    adopt_all()
    removed, now = 0, time.time()
    live = set()
    for account, region, name, record in seams.dynamodb.all_tables():
        store = record.get("items")
        if not isinstance(store, items.ItemStore):
            continue
        live.add(store.table_id)
        attribute = seams.dynamodb.ttl_attribute(account, region, name)
        while attribute:
            gone = items.expire(store.table_id, attribute, now)
            if not gone:
                break
            removed += len(gone)
            with seams.dynamodb.table_lock():
                record["ItemCount"] = max(0, record.get("ItemCount", 0) - len(gone))
                record["TableSizeBytes"] = record["ItemCount"] * 200
                seams.dynamodb.forget_item_index(record)
    for table_id in items.known_table_ids() - live:
        items.drop_table(table_id)
    return removed


def needed() -> bool:
    """ministack 1.5.33 creates a table's items as an in-memory dict."""
    from collections import defaultdict

    return isinstance(seams.dynamodb.new_table_items(), (dict, defaultdict))


def install() -> None:
    seams.wrap_service_handler("dynamodb", _adopting)
    seams.dynamodb.wrap_action("_delete_table", _delete_table)


def start() -> None:
    adopt_all(restored=True)
    expire_items()
    retention.register("dynamodb ttl", expire_items)


EXTENSION = Extension(name="dynamodb_items_on_disk", needed=needed, install=install, start=start)
