"""The warm worker's answer to the invocation this thread just ran.

ministack turns a worker's answer into an invocation result in the same thread, right
after the worker answers; the result keeps less than the answer did (the error's type, the
worker that ran it). Recording the last answer per thread lets the error and log
extensions read it.
"""

from __future__ import annotations

import threading

from localcloud import seams

_last = threading.local()
_installed = False


def _record(invoke):
    def invoke_and_record(worker, event, request_id, *args, **kwargs):
        _last.answer = None
        answer = invoke(worker, event, request_id, *args, **kwargs)
        _last.answer = (request_id, worker, answer)
        return answer

    return invoke_and_record


def install_recorder() -> None:
    global _installed
    if not _installed:
        seams.awslambda.wrap_worker_method("invoke", _record)
        _installed = True


def last_answer(request_id: str) -> tuple[object | None, dict | None]:
    """(worker, answer) of ``request_id`` when this thread ran it on a warm worker."""
    found = getattr(_last, "answer", None)
    if found and found[0] == request_id:
        return found[1], found[2]
    return None, None

