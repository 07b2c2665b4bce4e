"""Evaluation of an EventBridge bus resource policy for a PutEvents from another account.

Deny wins over allow; no matching allow means deny. Conditions are evaluated for the
keys a sender can be identified by (aws:PrincipalAccount, aws:SourceAccount,
aws:PrincipalOrgID). A condition this module cannot evaluate fails closed: it never
lets an Allow grant access and always lets a Deny refuse it.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Callable

logger = logging.getLogger("localcloud.bus_policy")

_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda actual, expected: actual == expected,
    "StringLike": lambda actual, expected: fnmatch.fnmatchcase(actual, expected),
    "StringNotEquals": lambda actual, expected: actual != expected,
    "StringNotLike": lambda actual, expected: not fnmatch.fnmatchcase(actual, expected),
}
# As in IAM: a negated operator matches when the request has no value for the key.
_NEGATED = {"StringNotEquals", "StringNotLike"}


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _principal_matches(principal, account: str) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, str):
        # PutPermission's Principal: an account id (ministack stores it as given).
        principal = {"AWS": principal}
    if not isinstance(principal, dict):
        return False
    for value in _as_list(principal.get("AWS")):
        if value in ("*", account) or str(value).startswith(f"arn:aws:iam::{account}:"):
            return True
    return False


class _Unevaluable(Exception):
    pass


def _condition_matches(condition: dict, context: dict[str, str | None]) -> bool:
    for operator, clauses in (condition or {}).items():
        compare = _OPERATORS.get(operator)
        if compare is None:
            logger.warning("bus policy condition operator %s is not evaluated locally (fails closed)", operator)
            raise _Unevaluable(operator)
        for key, expected in clauses.items():
            actual = context.get(key)
            if key not in context:
                logger.warning("bus policy condition key %s is not evaluated locally (fails closed)", key)
                raise _Unevaluable(key)
            if actual is None:
                if operator in _NEGATED:
                    continue
                return False
            values = _as_list(expected)
            if operator in _NEGATED:
                if not all(compare(actual, v) for v in values):
                    return False
            elif not any(compare(actual, v) for v in values):
                return False
    return True


def _statement_matches(statement: dict, action: str, resource: str, account: str, context: dict) -> bool:
    if not any(fnmatch.fnmatchcase(action, a) for a in _as_list(statement.get("Action"))):
        return False
    resources = _as_list(statement.get("Resource"))
    if resources and not any(fnmatch.fnmatchcase(resource, r) for r in resources):
        return False
    if not _principal_matches(statement.get("Principal"), account):
        return False
    try:
        return _condition_matches(statement.get("Condition") or {}, context)
    except _Unevaluable:
        return statement.get("Effect") == "Deny"


def allows(policy: dict | None, *, sender_account: str, bus_arn: str, organization_id: str | None,
           action: str = "events:PutEvents") -> bool:
    if not policy:
        return False
    context = {
        "aws:PrincipalAccount": sender_account,
        "aws:SourceAccount": sender_account,
        "aws:PrincipalOrgID": organization_id,
    }
    statements = _as_list(policy.get("Statement"))
    matching = [s for s in statements if _statement_matches(s, action, bus_arn, sender_account, context)]
    if any(s.get("Effect") == "Deny" for s in matching):
        return False
    return any(s.get("Effect") == "Allow" for s in matching)
