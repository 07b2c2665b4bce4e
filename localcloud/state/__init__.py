"""State the extensions keep, in a form persistence can write and read back."""

from __future__ import annotations


def tuple_keyed_state(mapping: dict) -> list:
    """A dict keyed by tuples, as JSON can hold it (persistence)."""
    return [[list(key), value] for key, value in mapping.items()]


def restore_tuple_keyed(mapping: dict, items: list) -> None:
    for key, value in items:
        mapping[tuple(key)] = value
