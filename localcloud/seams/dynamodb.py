"""DynamoDB as ministack keeps it: a table's resource policy and its encryption key."""

from __future__ import annotations

from localcloud.seams.core import request_scope


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
