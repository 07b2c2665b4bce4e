"""Retention, enforced in the background as AWS does it: one thread runs every registered
sweep (log groups' retention, archives' RetentionDays, DynamoDB TTL, SQS retention)
every LOCALCLOUD_RETENTION_SWEEP_SECONDS (default 60). AWS documents each of these as
"deleted some time after expiry" (hours for logs, days for DynamoDB TTL), so a minute
is well inside every window.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

logger = logging.getLogger("localcloud.retention")

_sweeps: dict[str, Callable[[], int]] = {}
_guard = threading.Lock()
_thread: threading.Thread | None = None
_stop = threading.Event()


def interval() -> float:
    return float(os.environ.get("LOCALCLOUD_RETENTION_SWEEP_SECONDS", "60"))


def sweep_all() -> dict[str, int]:
    """Run every sweep once; {name: items removed}."""
    removed = {}
    for name, sweep in list(_sweeps.items()):
        try:
            removed[name] = sweep()
        except Exception:
            logger.exception("retention sweep %s failed; next round retries", name)
    return removed


def _loop() -> None:
    while not _stop.wait(interval()):
        for name, count in sweep_all().items():
            if count:
                logger.info("retention: %s removed %d expired items", name, count)


def register(name: str, sweep: Callable[[], int]) -> None:
    """Add a sweep (returns how many items it removed); starts the thread once."""
    global _thread
    with _guard:
        _sweeps[name] = sweep
        if _thread is None:
            _stop.clear()
            _thread = threading.Thread(target=_loop, name="localcloud-retention", daemon=True)
            _thread.start()
