"""Keyed pseudonymisation of the personal fields of a transaction.

A field is replaced by ``HMAC-SHA256(key, value)`` in hex, prefixed with the key version,
so the same customer maps to the same token across events (joins still work) while the
raw value cannot be recovered without the key, which never leaves the payments account.
Erasure: destroying a key version makes every token minted with it unlinkable.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from typing import Any


def pseudonym(key: bytes, key_version: str, value: Any) -> str:
    canonical = value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))
    digest = hmac.new(key, canonical.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"pseudo:{key_version}:{digest}"


def pseudonymise_fields(document: Any, personal_fields: tuple[str, ...], key: bytes, key_version: str) -> tuple[Any, list[str]]:
    """Return a copy of ``document`` with each dotted path in ``personal_fields`` pseudonymised,
    and the list of paths that were present."""
    if not isinstance(document, dict):
        return document, []
    result = copy.deepcopy(document)
    replaced = []
    for path in personal_fields:
        parent = result
        *parents, leaf = path.split(".")
        for part in parents:
            parent = parent.get(part) if isinstance(parent, dict) else None
            if parent is None:
                break
        if isinstance(parent, dict) and leaf in parent and parent[leaf] is not None:
            parent[leaf] = pseudonym(key, key_version, parent[leaf])
            replaced.append(path)
    return result, replaced
