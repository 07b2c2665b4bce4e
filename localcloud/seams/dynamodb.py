"""DynamoDB in ministack: its table records, where each keeps its items (``table["items"]``,
a mapping partition key -> sort key -> item that every item operation reads and writes
through), its derived index of items, TTL settings and its own TTL thread; a table's
resource policy and its encryption key."""

from __future__ import annotations

import threading
from collections.abc import Callable

from localcloud.seams.core import request_scope


def _dynamodb():
    from ministack.services import dynamodb

    return dynamodb


def all_tables() -> list[tuple[str, str, str, dict]]:
    """(account, region, name, record) of every table."""
    return [(str(a), str(r), str(n), t) for (a, r, n), t in list(_dynamodb()._tables.all_items())]


def table(name: str) -> dict | None:
    """The table ``name`` of the current request scope."""
    return _dynamodb()._tables.get(name)


def table_name_of(data: dict) -> str | None:
    return _dynamodb()._normalize_table_name(data.get("TableName"))


NO_SORT_KEY = "__no_sort__"  # the sort-key slot of an item in a table without one


def forget_item_index(record: dict) -> None:
    """Drop the table's derived index of items; ministack rebuilds it when next needed."""
    record.pop(_dynamodb()._INDEX_MEMBERS, None)


def index_key() -> str:
    return _dynamodb()._INDEX_MEMBERS


def ttl_attribute(account: str, region: str, name: str) -> str | None:
    setting = _dynamodb()._ttl_settings.get_scoped(account, region, name) or {}
    return setting.get("AttributeName") if setting.get("TimeToLiveStatus") == "ENABLED" else None


def in_ministack_ttl_thread() -> bool:
    """ministack's own TTL thread (``dynamodb-ttl-reaper``) reads every item of every TTL
    table each minute."""
    return threading.current_thread().name == "dynamodb-ttl-reaper"


def table_lock():
    """The lock ministack's DynamoDB holds while it changes tables from its own threads."""
    return _dynamodb()._lock


def wrap_action(name: str, make_wrapper: Callable[[Callable], Callable]) -> None:
    """Wrap a DynamoDB action handler (``_delete_table`` …), looked up by name per request."""
    dynamodb = _dynamodb()
    setattr(dynamodb, name, make_wrapper(getattr(dynamodb, name)))


def new_table_items():
    """Probe: the container ministack gives a new table's items (a scratch table, removed)."""
    from localcloud.seams.core import PROBE_ACCOUNT_A, PROBE_REGION

    dynamodb = _dynamodb()
    name = "localcloud-probe-items"
    with request_scope(PROBE_ACCOUNT_A, PROBE_REGION):
        dynamodb._create_table({"TableName": name, "BillingMode": "PAY_PER_REQUEST",
                                "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                                "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}]})
        try:
            return (dynamodb._tables.get(name) or {}).get("items")
        finally:
            dynamodb._delete_table({"TableName": name})


def policy_and_key(table_arn: str) -> tuple[str, str] | None:
    """(resource policy, customer managed KMS key ARN or "") of a table; None when there is none."""
    from ministack.services import dynamodb

    parts = table_arn.split(":", 5)
    name = parts[5].split("/")[1] if len(parts) == 6 and "/" in parts[5] else ""
    with request_scope(parts[4], parts[3]):
        table = dynamodb._tables.get(name)
        if table is None:
            return None
        policy = dynamodb._resource_policies.get(table.get("TableArn", table_arn))
    sse = table.get("SSEDescription") or {}
    return (policy.get("Policy") if isinstance(policy, dict) else policy) or "", sse.get("KMSMasterKeyArn") or ""


def set_encryption_key(table_name: str, key_arn: str) -> bool:
    """Record that a table (current scope) is encrypted with a customer managed key, as
    DescribeTable's SSEDescription reports it; False when there is no such table."""
    from ministack.services import dynamodb

    table = dynamodb._tables.get(table_name)
    if table is None:
        return False
    table["SSEDescription"] = {"Status": "ENABLED", "SSEType": "KMS", "KMSMasterKeyArn": key_arn}
    return True


def encryption_key(table_name: str) -> str:
    from ministack.services import dynamodb

    table = dynamodb._tables.get(table_name) or {}
    return (table.get("SSEDescription") or {}).get("KMSMasterKeyArn") or ""


def stream_of_iterator(shard_iterator: str) -> str:
    """The stream ARN a DynamoDB Streams shard iterator reads ("" when it names none)."""
    from ministack.services import dynamodb_streams

    decoded = dynamodb_streams._decode_iterator(shard_iterator) or {}
    return str(decoded.get("arn") or "")
