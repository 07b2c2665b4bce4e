"""A bounded warm pool per Lambda function: a burst waits for a free worker.

ministack 1.5.33 starts a new worker process for every concurrent invocation, without
bound. On AWS that is free; on a 2-core laptop a burst of a few hundred transactions
starts a few hundred Python processes at once (each ~1 s of CPU to import its SDKs),
the machine stalls, handlers hit their timeouts and the killed workers are replaced by
more cold starts. Here each function keeps at most LOCALCLOUD_LAMBDA_WORKERS warm
workers (default: twice the CPU count, at least 4); an invocation that finds them all
busy waits for one (up to the function's timeout) instead of starting another.

The wait never happens on the server's event loop (a blocked loop could not serve the
very calls a busy handler makes), and a handler invoking its own function more levels
deep than the pool is wide is the one case that waits out its timeout.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time

from localcloud import seams
from localcloud.extensions import Extension

_guard = threading.Lock()
_released: dict[str, threading.Condition] = {}  # one per function: a release wakes one waiter of it


def _condition(func_name: str) -> threading.Condition:
    with _guard:
        return _released.setdefault(func_name, threading.Condition())


def pool_size() -> int:
    configured = os.environ.get("LOCALCLOUD_LAMBDA_WORKERS")
    return int(configured) if configured else max(4, 2 * (os.cpu_count() or 2))


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _wrap_acquire(original):
    size = pool_size()

    def acquire_worker(func_name, config, code_zip, qualifier="$LATEST", max_concurrency=None):
        if _on_event_loop():
            return original(func_name, config, code_zip, qualifier=qualifier, max_concurrency=max_concurrency)
        ceiling = min(size, max_concurrency) if max_concurrency else size
        deadline = time.monotonic() + float(config.get("Timeout", 3))
        released = _condition(func_name)
        while True:
            with released:
                worker, how = original(func_name, config, code_zip, qualifier=qualifier, max_concurrency=ceiling)
                if worker is not None or how != "func_cap" or time.monotonic() >= deadline:
                    return worker, how
                released.wait(min(0.5, max(0.0, deadline - time.monotonic())))

    return acquire_worker


def _wrap_release(original):
    def release_worker(worker):
        original(worker)
        if worker is not None:
            released = _condition(worker.func_name)
            with released:
                released.notify()

    return release_worker


def needed() -> bool:
    return seams.lambda_worker_ceiling() == 0


def install() -> None:
    seams.wrap_lambda_worker_lease(_wrap_acquire, _wrap_release)


EXTENSION = Extension(name="lambda_worker_pool", needed=needed, install=install)
