"""Step Functions EXPRESS workflows start when they are started.

ministack 1.5.33 sleeps 150 ms at the start of every execution thread, before the first
state runs. For an EXPRESS workflow, which AWS runs within milliseconds, that pause is
most of a transaction's end-to-end latency. This extension skips that one pause for
EXPRESS executions; STANDARD executions keep ministack's behaviour.
"""

from __future__ import annotations

import sys

from localcloud import seams
from localcloud.extension import Extension


class _ExpressStartClock:
    """``time`` as ministack's Step Functions module sees it, minus the start pause of
    EXPRESS executions."""

    def __init__(self, real_time, pause: float) -> None:
        self._time = real_time
        self._pause = pause

    def __getattr__(self, name):
        return getattr(self._time, name)

    def sleep(self, seconds: float) -> None:
        if seconds == self._pause:
            caller = sys._getframe(1)
            if caller.f_code.co_name == "_run_execution" and seams.states.is_express_execution(caller.f_locals.get("exec_arn", "")):
                return
        self._time.sleep(seconds)


def needed() -> bool:
    return bool(seams.states.execution_pause_seconds())


def install() -> None:
    pause = seams.states.execution_pause_seconds()
    seams.states.replace_clock(lambda real_time: _ExpressStartClock(real_time, pause))


EXTENSION = Extension(name="express_workflows", needed=needed, install=install)
