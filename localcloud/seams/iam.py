"""IAM and STS as ministack stores them: roles, users, policies, access keys, sessions.

Read-only views for the policy evaluation in ``localcloud.auth``, and an admin hook
expiring an STS session. Documents are returned as stored
(JSON text, sometimes URL-encoded, or dicts); ``localcloud.auth.policy`` compiles them.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass

def _iam():
    from ministack.services import iam

    return iam


def _sts():
    from ministack.services import sts

    return sts


@dataclass(frozen=True)
class Identity:
    """Who an access key is: its principal, and the session policies that narrow it."""

    arn: str  # arn:aws:iam::<a>:root, arn:aws:iam::<a>:user/<n>, arn:aws:sts::<a>:assumed-role/<r>/<s>
    kind: str  # "root", "user", "role", "federated"
    account: str
    session_policies: tuple = ()  # documents (a passed Policy, managed policy documents)
    has_session_policies: bool = False


def managed_policy_document(policy_arn: str, account: str):
    """The default version's document of an AWS managed or customer managed policy."""
    iam = _iam()
    if policy_arn.startswith("arn:aws:iam::aws:policy/"):
        record = iam._lookup_policy(policy_arn)
    else:
        record = iam._policies.get_scoped(account, None, policy_arn)
    if not record:
        return None
    version = (record.get("Versions") or {}).get(record.get("DefaultVersionId", "v1")) or {}
    return version.get("Document")


def _attached(record: dict, account: str) -> list:
    return [d for d in (managed_policy_document(arn, account) for arn in record.get("AttachedPolicies") or []) if d]


def _boundary(record: dict, account: str):
    arn = record.get("PermissionsBoundary")
    if isinstance(arn, dict):
        arn = arn.get("PermissionsBoundaryArn")
    if not arn:
        return None
    return managed_policy_document(arn, account) or {"Statement": []}


def role(account: str, name: str) -> dict | None:
    return _iam()._roles.get_scoped(account, None, name)


def role_documents(account: str, name: str) -> tuple[list, object] | None:
    """(identity policy documents, permissions boundary document or None); None: no such role."""
    record = role(account, name)
    if record is None:
        return None
    documents = list((record.get("InlinePolicies") or {}).values()) + _attached(record, account)
    return documents, _boundary(record, account)


def trust_policy(account: str, name: str):
    record = role(account, name)
    return None if record is None else record.get("AssumeRolePolicyDocument")


def user_documents(account: str, name: str) -> tuple[list, object] | None:
    iam = _iam()
    record = iam._users.get_scoped(account, None, name)
    if record is None:
        return None
    documents = list((iam._user_inline_policies.get_scoped(account, None, name) or {}).values())
    documents += _attached(record, account)
    for (group_account, group_name), group in iam._groups.to_dict().items():
        if group_account == account and name in (group.get("Users") or []):
            documents += list((iam._group_inline_policies.get_scoped(account, None, group_name) or {}).values())
            documents += _attached(group, account)
    return documents, _boundary(record, account)


def identity_of_key(access_key_id: str, account: str) -> Identity | None:
    """The principal an access key stands for (its signature already checked), or None."""
    from ministack.core.iam_evaluator import CredentialResolutionError, resolve_credential

    credential = resolve_credential(access_key_id, account)
    if isinstance(credential, CredentialResolutionError):
        return None
    kind = {"Root": "root", "User": "user", "AssumedRole": "role", "FederatedUser": "federated"}.get(
        credential.principal_type)
    if kind is None:
        return None
    session = _sts()._sessions.get(access_key_id) or {}
    passed = session.get("SessionPolicies")
    documents: list = []
    if passed:
        if passed.get("Policy"):
            documents.append(passed["Policy"])
        documents += [managed_policy_document(arn, credential.account_id) or {"Statement": []}
                      for arn in passed.get("PolicyArns") or []]
    return Identity(credential.principal_arn, kind, credential.account_id, tuple(documents), bool(passed))


# --- sessions -------------------------------------------------------------------------------------

def expire_session(access_key_id: str) -> bool:
    """Move a session's expiry into the past (admin: tests of ExpiredToken)."""
    session = _sts()._sessions.get(access_key_id)
    if session is None:
        return False
    session["Expiration"] = time.time() - 1
    return True


@contextmanager
def scratch_role(account: str, name: str):
    """A role that exists for the length of a probe (ministack, under AUTH, refuses to create
    a state machine or function naming a role that does not exist, as AWS does)."""
    roles = _iam()._roles
    roles.set_scoped(account, None, name, {
        "RoleName": name, "Arn": f"arn:aws:iam::{account}:role/{name}", "Path": "/", "RoleId": f"AROA{name.upper()}",
        "AssumeRolePolicyDocument": "{}", "InlinePolicies": {}, "AttachedPolicies": [], "Tags": []})
    try:
        yield f"arn:aws:iam::{account}:role/{name}"
    finally:
        roles.pop_scoped(account, None, name, None)
