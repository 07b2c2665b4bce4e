"""Memory that does not grow with every transaction the local cloud has ever seen.

ministack 1.5.33 keeps every finished Step Functions execution with its full event
history, and appends every event put on any bus to an internal list that no API reads.
After tens of thousands of transactions that is most of the server's memory. AWS keeps
no history for EXPRESS executions at all (they are not listed or described; their log
group is the record: express_executions.py refuses those calls as AWS does), so here the
newest LOCALCLOUD_EXPRESS_EXECUTIONS_KEPT (default 1000) finished EXPRESS executions stay
for the local cloud's own inspection and older ones are dropped; the
internal event list keeps its newest 1000 entries. Archives, queues and logs are
untouched. A trim runs every few seconds in the background.
"""

from __future__ import annotations

import logging
import os
import threading

from localcloud import seams
from localcloud.extension import Extension

logger = logging.getLogger("localcloud.bounded_history")

INTERVAL_S = 5.0
_stop = threading.Event()
_thread: threading.Thread | None = None


def kept() -> int:
    return int(os.environ.get("LOCALCLOUD_EXPRESS_EXECUTIONS_KEPT", "1000"))


def trim() -> tuple[int, int]:
    """(executions dropped, event-log entries dropped)."""
    finished = sorted(seams.states.finished_express_executions(), reverse=True)  # newest first (ISO stop dates)
    dropped = {arn for _stopped, arn in finished[kept():]}
    if dropped:
        seams.states.forget_executions(dropped)
        logger.info("forgot %d finished EXPRESS executions, keeping the newest %d", len(dropped), kept())
    return len(dropped), seams.events.trim_event_log(1000)


def _loop() -> None:
    while not _stop.wait(INTERVAL_S):
        try:
            trim()
        except Exception:
            logger.exception("trimming history failed; retrying")


def start() -> None:
    global _thread
    _stop.clear()
    _thread = threading.Thread(target=_loop, name="localcloud-bounded-history", daemon=True)
    _thread.start()


def stop() -> None:
    _stop.set()


def needed() -> bool:
    return not seams.states.prunes_executions()


def install() -> None:
    """Nothing to hook: the trim runs from ``start``."""


EXTENSION = Extension(name="bounded_history", needed=needed, install=install, start=start, stop=stop)
