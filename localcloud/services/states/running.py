"""Which execution this thread is running, and what happens when one ends.

ministack runs every execution (started, sync, nested) through ``_run_execution(exec_arn)``
on a thread of its own; tasks run inside it, or on a worker thread with its context
copied. One wrapper records the execution's ARN for the tasks (whose role acts, which
log group hears of it) and calls the finishers registered here once the walk is over.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable

from localcloud import seams

logger = logging.getLogger("localcloud.states")

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("localcloud_execution", default=None)
_finishers: list[Callable[[dict], None]] = []
_installed = False


def current_execution() -> dict | None:
    arn = _current.get()
    return seams.states.execution(arn) if arn else None


def when_finished(finisher: Callable[[dict], None]) -> None:
    """Call ``finisher(execution record)`` after every execution ends (any outcome)."""
    _finishers.append(finisher)
    _install()


def _wrap_run_execution(original):
    def run_execution(exec_arn):
        token = _current.set(exec_arn)
        try:
            return original(exec_arn)
        finally:
            _current.reset(token)
            record = seams.states.execution(exec_arn)
            for finisher in _finishers:
                try:
                    if record is not None:
                        finisher(record)
                except Exception:
                    logger.exception("after execution %s", exec_arn)

    return run_execution


def _install() -> None:
    global _installed
    if not _installed:
        seams.states.wrap_function("_run_execution", _wrap_run_execution)
        _installed = True


def track() -> None:
    """Record the running execution even when nothing waits for its end."""
    _install()
