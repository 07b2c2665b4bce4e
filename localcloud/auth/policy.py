"""Policy documents, compiled once: statements that match an action, a resource, a
principal and conditions, as the IAM JSON policy reference describes them.

https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements.html

Documents arrive as JSON text (IAM, SQS, Secrets Manager, KMS, Logs) or as dicts
(EventBridge, Lambda); text is compiled once per distinct document.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

from localcloud.auth.conditions import Condition, compile_conditions, wildcard

_ACCOUNT = re.compile(r"\d{12}")
_VARIABLE = re.compile(r"\$\{([^}]+)\}")


def as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


@dataclass(frozen=True)
class PrincipalSpec:
    """A statement's Principal (or NotPrincipal) element."""

    everyone: bool = False
    aws: tuple[str, ...] = ()  # account roots as arn:aws:iam::<account>:root, role/user/session ARNs
    services: tuple[str, ...] = ()  # lower case, e.g. "events.amazonaws.com"
    federated: tuple[str, ...] = ()


def _principal_spec(element: Any) -> PrincipalSpec | None:
    if element is None:
        return None
    if element == "*":
        return PrincipalSpec(everyone=True)
    if not isinstance(element, dict):
        return PrincipalSpec()
    aws = []
    everyone = False
    for value in as_list(element.get("AWS")):
        value = str(value)
        if value == "*":
            everyone = True
        elif _ACCOUNT.fullmatch(value):
            aws.append(f"arn:aws:iam::{value}:root")
        else:
            aws.append(value)
    return PrincipalSpec(
        everyone=everyone,
        aws=tuple(aws),
        services=tuple(str(s).lower() for s in as_list(element.get("Service"))),
        federated=tuple(str(f) for f in as_list(element.get("Federated"))),
    )


class Patterns:
    """Action or resource patterns with ``*``/``?`` wildcards (and policy variables)."""

    __slots__ = ("_everything", "_regex", "_templates", "_ignore_case")

    def __init__(self, patterns: list[str], ignore_case: bool) -> None:
        self._ignore_case = ignore_case
        self._everything = "*" in patterns
        fixed = [p for p in patterns if "${" not in p]
        self._templates = tuple(p for p in patterns if "${" in p)
        self._regex = None
        if fixed and not self._everything:
            body = "|".join(wildcard(p, ignore_case).pattern for p in fixed)
            self._regex = re.compile(f"(?:{body})", re.DOTALL | (re.IGNORECASE if ignore_case else 0))

    def match(self, value: str, substitute) -> bool:
        if self._everything:
            return True
        if self._regex is not None and self._regex.match(value):
            return True
        for template in self._templates:
            resolved = substitute(template)
            if resolved is not None and wildcard(resolved, self._ignore_case).match(value):
                return True
        return False


@dataclass(frozen=True)
class Statement:
    sid: str
    allow: bool
    actions: Patterns | None
    not_actions: Patterns | None
    resources: Patterns | None  # None: no Resource element (a resource policy's own resource)
    not_resources: Patterns | None
    principal: PrincipalSpec | None  # None: an identity policy statement
    not_principal: PrincipalSpec | None
    conditions: tuple[Condition, ...]

    def applies_to(self, action: str, resource: str, substitute) -> bool:
        if self.actions is not None and not self.actions.match(action, substitute):
            return False
        if self.not_actions is not None and self.not_actions.match(action, substitute):
            return False
        if self.resources is not None and not self.resources.match(resource, substitute):
            return False
        if self.not_resources is not None and self.not_resources.match(resource, substitute):
            return False
        return True

    def conditions_hold(self, lookup, substitute) -> bool:
        return all(condition.holds(lookup, substitute) for condition in self.conditions)


def _patterns(element: Any, ignore_case: bool) -> Patterns | None:
    if element is None:
        return None
    return Patterns([str(p) for p in as_list(element)], ignore_case)


def _statement(raw: dict) -> Statement | None:
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        return None
    return Statement(
        sid=str(raw.get("Sid", "")),
        allow=effect == "Allow",
        actions=_patterns(raw.get("Action"), ignore_case=True),
        not_actions=_patterns(raw.get("NotAction"), ignore_case=True),
        resources=_patterns(raw.get("Resource"), ignore_case=False),
        not_resources=_patterns(raw.get("NotResource"), ignore_case=False),
        principal=_principal_spec(raw.get("Principal")),
        not_principal=_principal_spec(raw.get("NotPrincipal")),
        conditions=compile_conditions(raw.get("Condition")),
    )


def _compile(document: Any) -> tuple[Statement, ...]:
    if not isinstance(document, dict):
        return ()
    compiled = (_statement(raw) for raw in as_list(document.get("Statement")) if isinstance(raw, dict))
    return tuple(s for s in compiled if s is not None)


@lru_cache(maxsize=4096)
def _compile_text(text: str) -> tuple[Statement, ...]:
    try:
        document = json.loads(text)
    except ValueError:
        try:
            document = json.loads(unquote(text))  # IAM returns documents URL-encoded
        except ValueError:
            return ()
    return _compile(document)


def compile_policy(document: Any) -> tuple[Statement, ...]:
    """The statements of a policy given as JSON text or as a dict; () when unreadable."""
    if not document:
        return ()
    if isinstance(document, str):
        return _compile_text(document)
    if isinstance(document, dict):
        return _compile_text(json.dumps(document, sort_keys=True))
    return ()


def substitute_variables(text: str, lookup) -> str | None:
    """Resolve ``${aws:username}``-style policy variables; None when one has no value
    (the element then matches nothing). ``${*}``, ``${?}``, ``${$}`` are literals."""
    missing = False

    def resolve(match: re.Match) -> str:
        nonlocal missing
        name = match.group(1)
        if name in ("*", "?", "$"):
            return name
        key, _, default = name.partition(", ")
        value = lookup(key.strip().lower())
        if isinstance(value, (list, tuple)):
            value = value[0] if value else None
        if value is None or not isinstance(value, str):
            if default:
                return default.strip().strip("'")
            missing = True
            return ""
        return value

    result = _VARIABLE.sub(resolve, text)
    return None if missing else result
