"""IAM condition operators, as the IAM User Guide defines them.

https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html

A condition block is ``{operator: {key: value(s)}}``; every operator and every key in it
must hold (AND), any one of a key's values may match (OR). Keys are case-insensitive,
String values case-sensitive. When the request has no value for a key, an ordinary
operator fails and a negated one (StringNotEquals, ArnNotLike, …) holds; ``…IfExists``
holds; ``Null`` tests presence. ``ForAnyValue:``/``ForAllValues:`` compare multivalued keys.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

MISSING = object()


@lru_cache(maxsize=4096)
def wildcard(pattern: str, ignore_case: bool = False) -> re.Pattern:
    """``*`` any run of characters, ``?`` one character, everything else literal."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body + r"\Z", re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _number(value: str) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _date(value: str) -> datetime | None:
    text = str(value)
    if text.replace(".", "", 1).isdigit():
        return datetime.fromtimestamp(float(text), timezone.utc)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _bool(value: Any) -> str:
    return str(value).lower()


def _arn_like(actual: str, pattern: str) -> bool:
    """ARN comparison segment by segment (the resource part may hold colons)."""
    actual_parts, pattern_parts = str(actual).split(":", 5), str(pattern).split(":", 5)
    if len(actual_parts) != 6 or len(pattern_parts) != 6:
        return False
    return all(wildcard(p).match(a) for a, p in zip(actual_parts, pattern_parts))


def _ip(actual: str, network: str) -> bool:
    try:
        return ipaddress.ip_address(str(actual)) in ipaddress.ip_network(str(network), strict=False)
    except ValueError:
        return False


def _numeric(compare: Callable[[float, float], bool]) -> Callable[[Any, Any], bool]:
    def check(actual, expected) -> bool:
        a, e = _number(actual), _number(expected)
        return a is not None and e is not None and compare(a, e)
    return check


def _dated(compare: Callable[[datetime, datetime], bool]) -> Callable[[Any, Any], bool]:
    def check(actual, expected) -> bool:
        a, e = _date(actual), _date(expected)
        return a is not None and e is not None and compare(a, e)
    return check


# operator -> (compare(actual, expected), negated)
_OPERATORS: dict[str, tuple[Callable[[Any, Any], bool], bool]] = {
    "stringequals": (lambda a, e: str(a) == str(e), False),
    "stringnotequals": (lambda a, e: str(a) == str(e), True),
    "stringequalsignorecase": (lambda a, e: str(a).lower() == str(e).lower(), False),
    "stringnotequalsignorecase": (lambda a, e: str(a).lower() == str(e).lower(), True),
    "stringlike": (lambda a, e: bool(wildcard(str(e)).match(str(a))), False),
    "stringnotlike": (lambda a, e: bool(wildcard(str(e)).match(str(a))), True),
    "numericequals": (_numeric(lambda a, e: a == e), False),
    "numericnotequals": (_numeric(lambda a, e: a == e), True),
    "numericlessthan": (_numeric(lambda a, e: a < e), False),
    "numericlessthanequals": (_numeric(lambda a, e: a <= e), False),
    "numericgreaterthan": (_numeric(lambda a, e: a > e), False),
    "numericgreaterthanequals": (_numeric(lambda a, e: a >= e), False),
    "dateequals": (_dated(lambda a, e: a == e), False),
    "datenotequals": (_dated(lambda a, e: a == e), True),
    "datelessthan": (_dated(lambda a, e: a < e), False),
    "datelessthanequals": (_dated(lambda a, e: a <= e), False),
    "dategreaterthan": (_dated(lambda a, e: a > e), False),
    "dategreaterthanequals": (_dated(lambda a, e: a >= e), False),
    "bool": (lambda a, e: _bool(a) == _bool(e), False),
    "binaryequals": (lambda a, e: str(a) == str(e), False),
    "ipaddress": (_ip, False),
    "notipaddress": (_ip, True),
    "arnequals": (_arn_like, False),
    "arnlike": (_arn_like, False),
    "arnnotequals": (_arn_like, True),
    "arnnotlike": (_arn_like, True),
}


class Condition:
    """One ``operator: {key: values}`` entry of a statement's Condition, precompiled."""

    __slots__ = ("operator", "key", "values", "_compare", "_negated", "_if_exists", "_set", "_null")

    def __init__(self, operator: str, key: str, values: Any) -> None:
        self.operator, self.key = operator, key.lower()
        self.values = tuple(values) if isinstance(values, list) else (values,)
        name = operator.lower()
        self._set = ""
        for prefix in ("foranyvalue:", "forallvalues:"):
            if name.startswith(prefix):
                self._set, name = prefix[:-1], name[len(prefix):]
        self._if_exists = name.endswith("ifexists")
        name = name.removesuffix("ifexists")
        self._null = name == "null"
        known = _OPERATORS.get(name)
        # An operator IAM does not define never matches (a policy with one cannot be saved on AWS).
        self._compare, self._negated = known if known else ((lambda a, e: False), False)

    def holds(self, lookup: Callable[[str], Any], substitute: Callable[[str], str | None]) -> bool:
        actual = lookup(self.key)
        if self._null:
            absent = actual is MISSING or actual is None or actual == []
            return any(_bool(v) == ("true" if absent else "false") for v in self.values)
        expected = [v for v in (substitute(str(v)) if isinstance(v, str) else v for v in self.values) if v is not None]
        if actual is MISSING or actual is None:
            if self._set == "forallvalues":
                return True
            if self._set == "foranyvalue":
                return False
            return self._if_exists or self._negated
        actuals = actual if isinstance(actual, (list, tuple, set)) else [actual]
        if self._set == "forallvalues":
            return all(self._one(a, expected) for a in actuals)
        if self._set == "foranyvalue" or len(actuals) != 1:
            return any(self._one(a, expected) for a in actuals)
        return self._one(actuals[0], expected)

    def _one(self, actual: Any, expected: list) -> bool:
        matched = any(self._compare(actual, e) for e in expected)
        return not matched if self._negated else matched


def compile_conditions(block: Any) -> tuple[Condition, ...]:
    if not isinstance(block, dict):
        return ()
    compiled = []
    for operator, clauses in block.items():
        if not isinstance(clauses, dict):
            compiled.append(Condition("unknown", str(operator), clauses))  # never holds: fails closed
            continue
        for key, values in clauses.items():
            compiled.append(Condition(operator, key, values))
    return tuple(compiled)
