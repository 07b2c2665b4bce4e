"""Extensions for what ministack lacks, each a small module with the same shape.

An extension first asks ministack whether it already does the job (``needed``) and
stays out of the way when it does, so upgrading ministack is one line plus a green run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from localcloud import seams

logger = logging.getLogger("localcloud")

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
    active: bool = field(default=False, init=False)


def _registry() -> list[Extension]:
    from localcloud.extensions import (
        bounded_history,
        cfn_events,
        cfn_secret_arn,
        cross_account_events,
        event_log_targets,
        express_workflows,
        http_api_integrations,
        local_capacity,
        pipes_sqs,
    )

    return [
        bounded_history.EXTENSION,
        cfn_events.EXTENSION,
        cfn_secret_arn.EXTENSION,
        cross_account_events.EXTENSION,
        event_log_targets.EXTENSION,
        express_workflows.EXTENSION,
        http_api_integrations.EXTENSION,
        local_capacity.EXTENSION,
        pipes_sqs.EXTENSION,
    ]


_EXTENSIONS: list[Extension] = []
# Called by pollers before they take more work from a durable source (an SQS queue):
# each blocks while downstream is saturated, so a backlog waits in the queue, visible
# and persisted, instead of as threads in the server.
_capacity_waits: list[Callable[[], None]] = []


def on_capacity_wait(wait: Callable[[], None]) -> None:
    _capacity_waits.append(wait)


def wait_for_capacity() -> None:
    for wait in _capacity_waits:
        wait()


def install_all() -> dict[str, str]:
    """Install every needed extension; returns {name: "installed" | "ministack handles it"}."""
    report = {}
    _EXTENSIONS[:] = _registry()
    for extension in _EXTENSIONS:
        if extension.needed():
            extension.install()
            extension.active = True
            report[extension.name] = "installed"
        else:
            report[extension.name] = "ministack handles it"
        logger.info("extension %s: %s", extension.name, report[extension.name])
    return report


def _active() -> list[Extension]:
    return [e for e in _EXTENSIONS if e.active]


def data_plane_handlers() -> list[DataPlaneHandler]:
    return [e.data_plane for e in _active() if e.data_plane]


def start_all() -> None:
    for extension in _active():
        extension.start()


def stop_all() -> None:
    for extension in _active():
        try:
            extension.stop()
        except Exception:
            logger.exception("stopping extension %s failed", extension.name)


def quiesce(timeout: float) -> bool:
    """Before a stop: no new work from our pollers, then wait (bounded) until no
    state machine execution and no Lambda invocation runs, so that what persistence
    saves holds every accepted transaction (in a queue, or already recorded)."""
    stop_all()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not seams.running_executions() and seams.lambda_invocations_in_flight() == 0:
            return True
        time.sleep(0.05)
    logger.warning("stopping with work in flight after %.0f s: %d executions, %d invocations", timeout,
                   len(seams.running_executions()), seams.lambda_invocations_in_flight())
    return False


def _state_name(extension: Extension) -> str:
    return f"localcloud_{extension.name}"


def save_all() -> None:
    if not seams.persistence_enabled():
        return
    for extension in _active():
        if extension.state:
            seams.save_state(_state_name(extension), extension.state())


def restore_all() -> None:
    if not seams.persistence_enabled():
        return
    for extension in _active():
        if extension.restore:
            data: Any = seams.load_state(_state_name(extension))
            if data:
                extension.restore(data)


def tuple_keyed_state(mapping: dict) -> list:
    """A dict keyed by tuples, as JSON can hold it (persistence)."""
    return [[list(key), value] for key, value in mapping.items()]


def restore_tuple_keyed(mapping: dict, items: list) -> None:
    for key, value in items:
        mapping[tuple(key)] = value
