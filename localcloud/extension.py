"""The shape every extension has: what ministack lacks, added through its seams.

An extension first asks ministack whether it already does the job (``needed``) and
stays out of the way when it does, so upgrading ministack is one line plus a green run.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

# An ASGI-style handler for requests an extension serves itself (an HTTP API's data
# plane): returns True when it answered the request.
DataPlaneHandler = Callable[[dict, Callable, Callable], Awaitable[bool]]


@dataclass
class Extension:
    name: str
    needed: Callable[[], bool]
    install: Callable[[], None]
    start: Callable[[], None] = lambda: None
    stop: Callable[[], None] = lambda: None
    state: Callable[[], dict] | None = None
    restore: Callable[[dict], None] | None = None
    data_plane: DataPlaneHandler | None = None
    # After the last request, before the process exits: free what the extension holds on
    # the machine (processes, folders).
    release: Callable[[], None] = lambda: None
    # A section of the health document: {"<name>": {...}}.
    health: Callable[[], dict] | None = None
    active: bool = field(default=False, init=False)
