"""KMS as ministack keeps it: key policies, grants, and key references (id, alias, ARN)."""

from __future__ import annotations

from localcloud.seams.core import request_scope


def _kms():
    from ministack.services import kms

    return kms


def key_arn(reference: str, account: str, region: str) -> str | None:
    """The ARN of the key a KeyId, alias name, alias ARN or key ARN names, in ``account``/``region``."""
    if reference.startswith("arn:"):
        parts = reference.split(":")
        account, region = parts[4], parts[3]
    with request_scope(account, region):
        record = _kms()._resolve_key(reference)
    return record.get("Arn") if record else None


def key_policy_and_grants(arn: str) -> tuple[str, list[dict]] | None:
    """(key policy, grants) of the key ``arn``; None when no such key exists."""
    parts = arn.split(":")
    kms = _kms()
    with request_scope(parts[4], parts[3]):
        record = kms._resolve_key(arn)
        if not record:
            return None
        grants = [g for g in kms._grants.values() if g.get("KeyId") == record.get("Arn")]
    return record.get("Policy") or "", grants


def key_arn_by_id(key_id: str) -> str | None:
    """The ARN of the key with this id, in whichever account holds it (key ids are unique)."""
    for (_account, _region, stored_id), record in list(_kms()._keys.all_items()):
        if stored_id == key_id:
            return record.get("Arn")
    return None
