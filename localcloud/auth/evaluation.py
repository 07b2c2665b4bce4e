"""The decision, as AWS documents its policy evaluation logic.

https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html
https://docs.aws.amazon.com/kms/latest/developerguide/determining-access.html

1. An explicit Deny in any policy that applies (identity, permissions boundary, session
   policy, the resource's own policy) refuses the request.
2. Within the resource's account, an Allow in an identity policy (within the boundary and
   session policies) or an Allow in the resource policy naming the caller suffices. A
   resource policy statement naming only the account delegates to identity policies.
3. From another account, both sides must allow: the caller's identity policy (an
   account's root holds every permission of its own) and the resource policy.
4. A KMS key policy and a role's trust policy must allow even callers of the owning
   account (directly, or by naming the account so that identity policies decide); a KMS
   grant allows its grantee the operations it lists.
5. An AWS service principal (``events.amazonaws.com``) has no identity policies: only a
   resource policy naming it can allow it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone

from localcloud.auth.conditions import MISSING
from localcloud.auth.policy import PrincipalSpec, Statement, substitute_variables
from localcloud.auth.principals import Caller, IdentityPolicies, identity_policies
from localcloud.auth.resources import ResourcePolicy, owner_account, resource_policy

# How a resource policy statement's Principal names the caller.
NOT_NAMED, ACCOUNT, ROLE, DIRECT = 0, 1, 2, 3


@dataclass(frozen=True)
class Outcome:
    allowed: bool
    reason: str = ""  # the tail of AWS's message: "because no identity-based policy allows …"
    explicit: bool = False
    in_resource_policy: bool = False


def _role_named(entry: str, caller: Caller) -> bool:
    if not caller.role_arn or ":role/" not in entry:
        return False
    return entry.split(":")[4] == caller.account and entry.rsplit("/", 1)[-1] == caller.name


def _strength(spec: PrincipalSpec, caller: Caller) -> int:
    if caller.kind == "service":
        return DIRECT if spec.everyone or caller.arn in spec.services else NOT_NAMED
    if spec.everyone:
        return ROLE
    best = NOT_NAMED
    for entry in spec.aws:
        if entry == caller.arn:
            return DIRECT
        if caller.account and entry == f"arn:aws:iam::{caller.account}:root":
            best = max(best, DIRECT if caller.kind == "root" else ACCOUNT)
        elif _role_named(entry, caller):
            best = max(best, ROLE)
    return best


def _names(statement: Statement, caller: Caller) -> int:
    if statement.principal is not None:
        return _strength(statement.principal, caller)
    if statement.not_principal is not None:
        return NOT_NAMED if _strength(statement.not_principal, caller) else ROLE
    return NOT_NAMED


class Context:
    """The request's condition keys (lower case), with the global ones AWS supplies."""

    def __init__(self, caller: Caller, action: str, resource: str, owner: str, given: dict) -> None:
        self._values = {key.lower(): value for key, value in given.items() if value is not None}
        self._caller, self._action, self._owner = caller, action, owner
        self._resource = resource

    def lookup(self, key: str):
        value = self._values.get(key, MISSING)
        if value is MISSING:
            value = self._global(key)
            self._values[key] = value
        return value

    def substitute(self, text: str) -> str | None:
        if "${" not in text:
            return text
        return substitute_variables(text, lambda key: (lambda v: None if v is MISSING else v)(self.lookup(key)))

    def _global(self, key: str):
        caller = self._caller
        if key == "aws:securetransport":
            return "true"  # an SDK call on AWS is always HTTPS; see README "Strict IAM"
        if key == "aws:sourceip":
            return "127.0.0.1"
        if key in ("aws:resourceaccount", "s3:resourceaccount"):
            return self._owner or MISSING
        if key == "aws:currenttime":
            return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        if key == "aws:epochtime":
            return str(int(time.time()))
        if key == "aws:principalisawsservice":
            return "true" if caller.kind == "service" else "false"
        if caller.kind in ("service", "anonymous"):
            return MISSING
        if key in ("aws:principalaccount", "kms:calleraccount"):
            return caller.account
        if key == "aws:principalarn":
            return caller.principal_arn
        if key == "aws:principaltype":
            return {"root": "Account", "user": "User", "role": "AssumedRole"}.get(caller.kind, MISSING)
        if key == "aws:username" and caller.kind == "user":
            return caller.name
        if key == "aws:principalorgid":
            from localcloud import seams

            return seams.organizations.organization_of(caller.account) or MISSING
        return MISSING


def _matching(statements, action, resource, context, allow: bool, caller: Caller | None = None, floor: int = 0):
    """The strongest naming (or True for identity statements) among matching statements of one effect."""
    best = 0
    for statement in statements:
        if statement.allow != allow or not statement.applies_to(action, resource, context.substitute):
            continue
        strength = DIRECT if caller is None else _names(statement, caller)
        if strength <= max(best, floor - 1) or not statement.conditions_hold(context.lookup, context.substitute):
            continue
        best = strength
        if best == DIRECT:
            break
    return best


def _grant_allows(grants, caller: Caller, action: str, context: Context) -> bool:
    operation = action.split(":", 1)[-1].lower()
    for grant in grants:
        grantee = str(grant.get("GranteePrincipal") or "")
        if grantee not in (caller.arn, caller.principal_arn) and not (
                caller.kind == "root" and grantee == caller.account):
            continue
        if operation not in {str(op).lower() for op in grant.get("Operations") or []}:
            continue
        constraints = grant.get("Constraints") or {}
        wanted = constraints.get("EncryptionContextEquals") or constraints.get("EncryptionContextSubset") or {}
        if all(context.lookup(f"kms:encryptioncontext:{k}".lower()) == v for k, v in wanted.items()):
            return True
    return False


def decide(caller: Caller, action: str, resource: str, given: dict) -> Outcome:
    owner = owner_account(resource)
    context = Context(caller, action, resource, owner, given)
    identity: IdentityPolicies | None = identity_policies(caller) if caller.kind in ("role", "user", "root") else \
        IdentityPolicies((), None, None)
    found: ResourcePolicy | None = resource_policy(action, resource)
    policy = found.statements if found else ()

    # 1. explicit denies
    if identity is not None:
        if _matching(identity.statements, action, resource, context, allow=False):
            return Outcome(False, "with an explicit deny in an identity-based policy", explicit=True)
        for layer, where in ((identity.boundary, "a permissions boundary"), (identity.session, "a session policy")):
            if layer is not None and _matching(layer, action, resource, context, allow=False):
                return Outcome(False, f"with an explicit deny in {where}", explicit=True)
    if policy and _matching(policy, action, resource, context, allow=False, caller=caller, floor=ACCOUNT):
        return Outcome(False, "with an explicit deny in a resource-based policy", explicit=True, in_resource_policy=True)

    # 2. allows
    within_limits, limit_reason = True, ""
    if identity is None:
        identity_allows = caller.kind == "root"
    else:
        identity_allows = bool(_matching(identity.statements, action, resource, context, allow=True))
        for layer, where in ((identity.boundary, "permissions boundary"), (identity.session, "session policy")):
            if within_limits and layer is not None and not _matching(layer, action, resource, context, allow=True):
                within_limits, limit_reason = False, f"because no {where} allows the {action} action"
    identity_effective = identity_allows and within_limits
    named = _matching(policy, action, resource, context, allow=True, caller=caller, floor=ACCOUNT) if policy else 0
    granted = bool(found and found.grants) and _grant_allows(found.grants, caller, action, context)
    resource_allows = named == DIRECT or (named == ROLE and within_limits)

    if caller.kind in ("service", "anonymous"):
        allowed = resource_allows or granted
    elif found is not None and found.required:
        same_account = not owner or owner == caller.account
        allowed = ((resource_allows or (named == ACCOUNT and identity_effective)) if same_account
                   else (named >= ACCOUNT and identity_effective)) or (granted and (same_account or identity_effective))
    elif not owner or owner == caller.account:
        allowed = identity_effective or resource_allows
    else:
        allowed = identity_effective and named >= ACCOUNT
    if allowed:
        return Outcome(True)

    # 3. why not, in AWS's words
    if limit_reason and identity_allows:
        return Outcome(False, limit_reason)
    cross_account = bool(owner) and owner != caller.account
    if caller.kind in ("service", "anonymous") or (found is not None and found.required) or \
            (cross_account and identity_effective):
        return Outcome(False, f"because no resource-based policy allows the {action} action")
    return Outcome(False, f"because no identity-based policy allows the {action} action")
