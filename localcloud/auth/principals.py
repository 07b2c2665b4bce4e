"""Who acts: an account's root, an IAM user, a role (or a session of one), an AWS service,
or nobody (an unsigned request), with the identity policies that apply to it.

A principal is named by the string AWS uses for it: ``arn:aws:iam::<account>:root``,
``arn:aws:iam::<account>:user/<name>``, ``arn:aws:iam::<account>:role/<name>`` (a service
acting with that role), ``arn:aws:sts::<account>:assumed-role/<role>/<session>``, a service
principal such as ``events.amazonaws.com``, or ``anonymous``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from localcloud import seams
from localcloud.auth.policy import Statement, compile_policy

ANONYMOUS = "anonymous"
SERVICE_SESSION = "localcloud"  # session name shown for a role a service acts with


@dataclass(frozen=True)
class Caller:
    arn: str  # as AWS names the caller in a denial
    kind: str  # "root", "user", "role", "service", "anonymous"
    account: str = ""
    name: str = ""  # user or role name
    role_arn: str = ""  # a role session's role (aws:PrincipalArn)
    session_documents: tuple = field(default=(), compare=False)
    has_session_policies: bool = False

    @property
    def principal_arn(self) -> str:
        return self.role_arn or self.arn


def _role_name(resource: str) -> str:
    return resource.split("/")[-1]


def parse(principal: str, session_documents: tuple = (), has_session_policies: bool = False) -> Caller:
    if not principal or principal == ANONYMOUS:
        return Caller(ANONYMOUS, "anonymous")
    if not principal.startswith("arn:"):
        return Caller(principal.lower(), "service")
    parts = principal.split(":", 5)
    account, resource = (parts[4], parts[5]) if len(parts) == 6 else ("", "")
    if resource == "root":
        return Caller(principal, "root", account)
    if resource.startswith("user/"):
        return Caller(principal, "user", account, _role_name(resource))
    if resource.startswith("role/"):
        name = _role_name(resource)
        session = f"arn:aws:sts::{account}:assumed-role/{name}/{SERVICE_SESSION}"
        return Caller(session, "role", account, name, f"arn:aws:iam::{account}:role/{name}",
                      session_documents, has_session_policies)
    if resource.startswith("assumed-role/"):
        name = resource.split("/")[1] if resource.count("/") >= 2 else ""
        return Caller(principal, "role", account, name, f"arn:aws:iam::{account}:role/{name}",
                      session_documents, has_session_policies)
    return Caller(principal, "unknown", account)


@dataclass(frozen=True)
class IdentityPolicies:
    statements: tuple[Statement, ...]
    boundary: tuple[Statement, ...] | None  # None: no permissions boundary
    session: tuple[Statement, ...] | None  # None: no session policies


def _compiled(documents) -> tuple[Statement, ...]:
    compiled: list[Statement] = []
    for document in documents:
        compiled.extend(compile_policy(document))
    return tuple(compiled)


def identity_policies(caller: Caller) -> IdentityPolicies | None:
    """The caller's identity-based policies; None for root (every action in its account)
    and for callers that have none (services, anonymous, an unknown role: nothing allowed)."""
    if caller.kind == "root":
        return None
    if caller.kind == "role":
        found = seams.iam.role_documents(caller.account, caller.name)
    elif caller.kind == "user":
        found = seams.iam.user_documents(caller.account, caller.name)
    else:
        found = None
    if found is None:
        return IdentityPolicies((), None, None)
    documents, boundary = found
    return IdentityPolicies(
        _compiled(documents),
        None if boundary is None else _compiled([boundary]),
        _compiled(caller.session_documents) if caller.has_session_policies else None,
    )
