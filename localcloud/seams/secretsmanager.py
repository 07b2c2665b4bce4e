"""Secrets Manager as ministack keeps it: a secret's resource policy and its KMS key."""

from __future__ import annotations

from localcloud.seams.core import request_scope


def policy_and_key(secret_arn: str) -> tuple[str, str] | None:
    """(resource policy, KmsKeyId) of the secret ``secret_arn``; None when there is none."""
    from ministack.services import secretsmanager

    parts = secret_arn.split(":")
    with request_scope(parts[4], parts[3]):
        found = secretsmanager._resolve(secret_arn)
        secret = found[1] if found else None
        if not secret:
            return None
        return secretsmanager._resource_policies.get(secret.get("ARN")) or "", secret.get("KmsKeyId") or ""
