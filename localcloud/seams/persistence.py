"""ministack's persistence switch and its per-service state files."""

from __future__ import annotations


def enabled() -> bool:
    from ministack.core import persistence

    return persistence.PERSIST_STATE


def save_state(name: str, data: dict) -> None:
    from ministack.core import persistence

    persistence.save_state(name, data)


def load_state(name: str) -> dict | None:
    from ministack.core import persistence

    return persistence.load_state(name)
