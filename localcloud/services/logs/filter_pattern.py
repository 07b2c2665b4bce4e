"""CloudWatch Logs filter patterns (FilterLogEvents, subscription filters, Live Tail), as
https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html
describes them:

* terms: ``ERROR`` (contains), ``ERROR Exception`` (all), ``?ERROR ?WARN`` (any),
  ``ERROR -DEBUG`` (and not), ``"exact phrase"``; "Filter patterns are case sensitive";
  ``" "`` matches every event;
* regular expressions between ``%`` signs: ``%[Ee]rror%``;
* JSON: ``{ $.level = "ERROR" && ($.latency > 100 || $.user.id IS NULL) }``, with
  ``=``/``!=`` on strings (``*`` a wildcard) and numbers, ``<``/``>``/``<=``/``>=`` on
  numbers, ``IS NULL``, ``NOT EXISTS``, ``IS TRUE``/``IS FALSE``, array indexes ``[0]``
  and ``[*]``; an event that is not JSON never matches;
* space-delimited: ``[ip, user, ..., status=4*, bytes > 1000]``.

``compile_pattern`` returns a matcher and the substrings every match must contain (a
prefilter the store runs in SQL); an invalid pattern raises ``InvalidPattern``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

Matcher = Callable[[str], bool]


class InvalidPattern(ValueError):
    pass


@dataclass(frozen=True)
class Compiled:
    matches: Matcher
    required: tuple[str, ...] = ()


def compile_pattern(raw: str | None) -> Compiled:
    text = (raw or "").strip()
    if not text or text == '" "':
        return Compiled(lambda _message: True)
    if text.startswith("{"):
        return Compiled(_compile_json(text))
    if text.startswith("["):
        return Compiled(_compile_delimited(text))
    if len(text) > 1 and text.startswith("%") and text.endswith("%"):
        expression = _regex(text[1:-1])
        return Compiled(lambda message: expression.search(message) is not None)
    return _compile_terms(text)


# --- terms ------------------------------------------------------------------------------------------

_TERM = re.compile(r'([?+-]?)(?:"((?:[^"\\]|\\.)*)"|(\S+))')


def _compile_terms(text: str) -> Compiled:
    required, optional, excluded = [], [], []
    for sign, quoted, bare in _TERM.findall(text):
        term = bytes(quoted, "utf-8").decode("unicode_escape") if quoted and "\\" in quoted else (quoted or bare)
        if not term:
            continue
        {"?": optional, "-": excluded}.get(sign, required).append(term)

    def matches(message: str) -> bool:
        return (all(t in message for t in required) and (not optional or any(t in message for t in optional))
                and not any(t in message for t in excluded))

    return Compiled(matches, tuple(required))


def _regex(expression: str) -> re.Pattern:
    if "(" in expression or ")" in expression:
        raise InvalidPattern("Invalid character(s) in term '('")
    try:
        return re.compile(expression)
    except re.error as error:
        raise InvalidPattern(f"Invalid regex: {error}") from error


# --- values shared by JSON and space-delimited patterns ----------------------------------------------

def _number(value) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _compare(actual, op: str, expected: str, quoted: bool) -> bool:
    """``actual`` (a field's value) against the pattern's literal ``expected``."""
    if expected.startswith("%") and expected.endswith("%") and len(expected) > 1 and not quoted:
        found = isinstance(actual, str) and _regex(expected[1:-1]).search(actual) is not None
        return found if op == "=" else not found if op == "!=" else False
    wanted = None if quoted else _number(expected)
    if wanted is not None and op in ("=", "!=", "<", ">", "<=", ">="):
        have = _number(actual)
        if have is None:
            return op == "!="
        return {"=": have == wanted, "!=": have != wanted, "<": have < wanted, ">": have > wanted,
                "<=": have <= wanted, ">=": have >= wanted}[op]
    if op not in ("=", "!="):
        raise InvalidPattern(f"Invalid comparison {op} for a string value")
    if not isinstance(actual, (str, int, float)) or isinstance(actual, bool):
        return op == "!="
    text = actual if isinstance(actual, str) else json.dumps(actual)
    if "*" in expected:
        equal = re.fullmatch(".*".join(re.escape(part) for part in expected.split("*")), text, re.S) is not None
    else:
        equal = text == expected
    return equal if op == "=" else not equal


# --- JSON -------------------------------------------------------------------------------------------

_JSON_TOKEN = re.compile(r'\s*(\|\||&&|\(|\)|!=|<=|>=|=|<|>|"(?:[^"\\]|\\.)*"|\$[^\s=!<>()&|]*|[^\s=!<>()&|"]+)')
_MISSING = object()


def _tokens(body: str) -> list[str]:
    tokens, position = [], 0
    while position < len(body):
        match = _JSON_TOKEN.match(body, position)
        if not match:
            if body[position:].strip():
                raise InvalidPattern(f"Invalid filter pattern near '{body[position:position + 20]}'")
            break
        tokens.append(match.group(1))
        position = match.end()
    return tokens


def _select(document, selector: str) -> list:
    """Values at a selector like ``$.a.b[0]`` or ``$.list[*].id`` (_MISSING: absent)."""
    parts = re.findall(r"\.([^.\[\]]+)|\[(\*|\d+)\]", selector[1:])
    if "".join(f".{n}" if n else f"[{i}]" for n, i in parts) != selector[1:]:
        raise InvalidPattern(f"Invalid selector {selector}")
    values = [document]
    for name, index in parts:
        found = []
        for value in values:
            if name:
                if name == "*" and isinstance(value, dict):
                    found.extend(value.values())
                elif isinstance(value, dict) and name in value:
                    found.append(value[name])
            elif isinstance(value, list):
                found.extend(value if index == "*" else value[int(index):int(index) + 1])
        values = found
    return values or [_MISSING]


def _compile_json(text: str) -> Matcher:
    if not text.endswith("}"):
        raise InvalidPattern("Invalid JSON filter pattern: missing closing brace")
    tokens = _tokens(text[1:-1])
    position = 0

    def peek() -> str | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> str:
        nonlocal position
        if position >= len(tokens):
            raise InvalidPattern("Invalid JSON filter pattern: unexpected end")
        position += 1
        return tokens[position - 1]

    def expression():
        terms = [conjunction()]
        while peek() == "||":
            take()
            terms.append(conjunction())
        return lambda doc: any(t(doc) for t in terms)

    def conjunction():
        terms = [unary()]
        while peek() == "&&":
            take()
            terms.append(unary())
        return lambda doc: all(t(doc) for t in terms)

    def unary():
        if peek() == "(":
            take()
            inner = expression()
            if take() != ")":
                raise InvalidPattern("Invalid JSON filter pattern: missing ')'")
            return inner
        selector = take()
        if not selector.startswith("$"):
            raise InvalidPattern(f"Invalid selector {selector}")
        word = (peek() or "").upper()
        if word in ("IS", "NOT"):
            take()
            second = take().upper()
            if word == "NOT" and second == "EXISTS":
                return lambda doc: _select(doc, selector) == [_MISSING]
            if word == "IS" and second in ("NULL", "TRUE", "FALSE"):
                wanted = {"NULL": None, "TRUE": True, "FALSE": False}[second]
                return lambda doc: any(v is wanted for v in _select(doc, selector))
            raise InvalidPattern(f"Invalid JSON filter pattern near {word} {second}")
        op = take()
        if op not in ("=", "!=", "<", ">", "<=", ">="):
            raise InvalidPattern(f"Invalid operator {op}")
        literal = take()
        quoted = literal.startswith('"')
        value = json.loads(literal) if quoted else literal
        return lambda doc: any(v is not _MISSING and _compare(v, op, value, quoted) for v in _select(doc, selector))

    condition = expression()
    if position != len(tokens):
        raise InvalidPattern(f"Invalid JSON filter pattern near '{tokens[position]}'")

    def matches(message: str) -> bool:
        try:
            document = json.loads(message)
        except ValueError:
            return False
        return isinstance(document, (dict, list)) and condition(document)

    return matches


# --- space-delimited ---------------------------------------------------------------------------------

_FIELD_CONDITION = re.compile(r'^\s*([A-Za-z0-9_]+)?\s*(!=|<=|>=|=|<|>)\s*(".*"|\S+)\s*$')
_EVENT_FIELD = re.compile(r'"[^"]*"|\[[^\]]*\]|\S+')


def _compile_delimited(text: str) -> Matcher:
    if not text.endswith("]"):
        raise InvalidPattern("Invalid space-delimited filter pattern: missing ']'")
    fields = []
    for raw in text[1:-1].split(","):
        raw = raw.strip()
        if raw == "...":
            fields.append("...")
            continue
        alternatives = []
        for alternative in raw.split("||"):
            conditions = []
            for part in alternative.split("&&"):
                match = _FIELD_CONDITION.match(part)
                if match:
                    literal = match.group(3)
                    conditions.append((match.group(2), literal.strip('"'), literal.startswith('"')))
                elif not re.fullmatch(r"\s*[A-Za-z0-9_]*\s*", part):
                    raise InvalidPattern(f"Invalid space-delimited field '{part.strip()}'")
            alternatives.append(conditions)
        fields.append(alternatives)

    def field_matches(value: str, alternatives) -> bool:
        value = value[1:-1] if len(value) > 1 and value[0] + value[-1] in ('""', "[]") else value
        return any(all(_compare(value, op, literal, quoted) for op, literal, quoted in conditions)
                   for conditions in alternatives)

    def fits(spec: list, values: list[str]) -> bool:
        if not spec:
            return not values
        if spec[0] == "...":
            return any(fits(spec[1:], values[skip:]) for skip in range(len(values) + 1))
        return bool(values) and field_matches(values[0], spec[0]) and fits(spec[1:], values[1:])

    return lambda message: fits(fields, _EVENT_FIELD.findall(message))
