"""Simple JSON paths (``$.a.b[0]``, ``a.b[-1]``): the subset HTTP API parameter mappings
and Pipes input templates use."""

from __future__ import annotations

from typing import Any


def lookup(document: Any, path: str) -> Any:
    """The value at ``path`` in ``document``, or None when any step is missing."""
    current = document
    for token in path.removeprefix("$").replace("[", ".[").split("."):
        if not token:
            continue
        if token.startswith("[") and token.endswith("]"):
            index = int(token[1:-1])
            current = current[index] if isinstance(current, list) and -len(current) <= index < len(current) else None
        else:
            current = current.get(token) if isinstance(current, dict) else None
        if current is None:
            return None
    return current
