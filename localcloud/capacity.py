"""What one machine can run at once: bursts queue instead of stalling or throttling.

ministack 1.5.33 assumes AWS's elasticity: a new Lambda worker process for every
concurrent invocation, a thread for every execution, a throttle past its account
concurrency cap. On a 2-core laptop a replay of thousands of events then starts
thousands of Python processes and threads, the machine stalls, handlers time out and
transactions end on dead-letter queues for reasons AWS would never produce. Three
measures keep such a burst a queue:

* each function keeps at most LOCALCLOUD_LAMBDA_WORKERS warm workers (default twice the
  CPU count, at least 4); an invocation that finds them busy waits for one, for up to
  LOCALCLOUD_LAMBDA_QUEUE_SECONDS (default 900, Lambda's longest timeout);
* past ministack's account concurrency cap an invocation waits for a slot instead of
  being throttled (a function's own ReservedConcurrentExecutions still throttles, as on
  AWS);
* a warm worker unused for LOCALCLOUD_LAMBDA_IDLE_SECONDS (default 60) is stopped, the
  last one of its function too (AWS also retires idle execution environments; ministack
  keeps one per function forever, so functions a deploy ran once held memory for good);
* event deliveries made off the server's event loop (archive replays, forwarding
  threads) start a state machine only while fewer than LOCALCLOUD_MAX_EXECUTIONS
  (default 64) executions run, so a 10,000-event replay paces itself; and pollers of
  durable sources (the SQS pipes) wait for the same condition before taking more
  messages, so an offered load above what the machine can process becomes queue depth,
  not threads, and the server stays responsive.

Nothing here ever waits on the server's event loop (a blocked loop could not serve the
calls a busy handler makes), and two measures keep work off it (profiled with py-spy
while a backlog drained, the loop was what made health and API calls wait):

* a rule's delivery to a state machine, made while a PutEvents is served, started a
  thread on the loop, and ``Thread.start`` waits until the new thread runs: under load
  that held the loop for milliseconds per event. Such deliveries go to a few dispatcher
  threads instead; until they start, pollers count them as demand, so the backlog stays
  in the queue;
* a rule's (asynchronous) delivery to a Lambda function started a thread per event that
  then waited for one of the function's workers: 10,000 events ahead of a slower
  consumer were 4,000 threads and a load average of 600 on a 2-core machine. Deliveries
  run on a pool per function, as many threads as it has workers; the rest wait in its
  queue (demand to pollers; a replay waits while one function has a long queue);
* reads that scan a whole log group (FilterLogEvents, GetLogEvents, DescribeLogStreams,
  Logs Insights) run on a bounded pool of reader threads (the loop awaits them): one
  such call over tens of thousands of events held the loop for seconds.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import os
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

from localcloud import seams
from localcloud.extension import Extension

logger = logging.getLogger("localcloud")

# Called by pollers before they take more work from a durable source (an SQS queue):
# each blocks while downstream is saturated, so a backlog waits in the queue, visible
# and persisted, instead of as threads in the server.
_capacity_waits: list = []


def on_capacity_wait(wait) -> None:
    _capacity_waits.append(wait)


def wait_for_capacity() -> None:
    for wait in _capacity_waits:
        wait()


_guard = threading.Lock()
_released: dict[str, threading.Condition] = {}  # per function: a worker's release wakes one waiter
_slots = threading.Condition()  # an execution slot's release wakes one waiter
_executions = threading.Condition()
_running = 0  # execution threads running
_starting = 0  # paced starts whose thread has not begun yet
_queued: deque = deque()  # one token per rule delivery handed to our threads, not yet done (no lock on the loop)
DISPATCH_THREADS = 4
READ_THREADS = 2
_HEAVY_READS = {"logs": frozenset({"FilterLogEvents", "GetLogEvents", "DescribeLogStreams", "StartQuery",
                                   "GetQueryResults"})}
_paced = contextvars.ContextVar("localcloud_paced_start", default=False)


def pool_size() -> int:
    configured = os.environ.get("LOCALCLOUD_LAMBDA_WORKERS")
    return int(configured) if configured else max(4, 2 * (os.cpu_count() or 2))


def queue_seconds() -> float:
    return float(os.environ.get("LOCALCLOUD_LAMBDA_QUEUE_SECONDS", "900"))


@lru_cache(maxsize=1)
def max_executions() -> int:
    return int(os.environ.get("LOCALCLOUD_MAX_EXECUTIONS", "64"))


def idle_seconds() -> float:
    return float(os.environ.get("LOCALCLOUD_LAMBDA_IDLE_SECONDS", "60"))


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _wait(condition: threading.Condition, deadline: float) -> None:
    # Woken by a release; the timeout only guards against a lost wake-up.
    condition.wait(min(5.0, max(0.0, deadline - time.monotonic())))


# --- warm workers -----------------------------------------------------------------------

def _condition(func_name: str) -> threading.Condition:
    with _guard:
        return _released.setdefault(func_name, threading.Condition())


def _wrap_acquire_worker(original):
    size = pool_size()

    def acquire_worker(func_name, config, code_zip, qualifier="$LATEST", max_concurrency=None):
        if _on_event_loop():
            return original(func_name, config, code_zip, qualifier=qualifier, max_concurrency=max_concurrency)
        ceiling = min(size, max_concurrency) if max_concurrency else size
        deadline = time.monotonic() + queue_seconds()
        released = _condition(func_name)
        while True:
            with released:
                worker, how = original(func_name, config, code_zip, qualifier=qualifier, max_concurrency=ceiling)
                if worker is not None or how != "func_cap" or time.monotonic() >= deadline:
                    return worker, how
                _wait(released, deadline)

    return acquire_worker


def _wrap_release_worker(original):
    def release_worker(worker):
        original(worker)
        if worker is not None:
            released = _condition(worker.func_name)
            with released:
                released.notify()

    return release_worker


# --- account concurrency ------------------------------------------------------------------

def _wrap_acquire_slot(original):
    def acquire_execution_slot(func, config):
        slot, limit = original(func, config)
        if slot is not None or limit != "account" or _on_event_loop():
            return slot, limit
        deadline = time.monotonic() + queue_seconds()
        with _slots:
            while slot is None and limit == "account" and time.monotonic() < deadline:
                _wait(_slots, deadline)
                slot, limit = original(func, config)
        return slot, limit

    return acquire_execution_slot


def _wrap_release_slot(original):
    def release_execution_slot(key):
        original(key)
        with _slots:
            _slots.notify()

    return release_execution_slot


# --- executions -------------------------------------------------------------------------------

def _wrap_run_execution(original):
    def run_execution(exec_arn):
        global _running, _starting
        with _executions:
            _running += 1
            if _paced.get():
                _starting -= 1
        try:
            return original(exec_arn)
        finally:
            with _executions:
                _running -= 1
                _executions.notify_all()

    return run_execution


def wait_below_max_executions() -> None:
    """Block (off the event loop) while LOCALCLOUD_MAX_EXECUTIONS executions run."""
    if _on_event_loop():
        return
    deadline = time.monotonic() + queue_seconds()
    with _executions:
        while _running + _starting + len(_queued) >= max_executions() and time.monotonic() < deadline:
            _wait(_executions, deadline)


def _wrap_dispatch_to_state_machine(original):
    def dispatch_to_stepfunctions(arn, payload):
        global _starting
        if _on_event_loop():
            return original(arn, payload)
        deadline = time.monotonic() + queue_seconds()
        with _executions:
            while _running + _starting >= max_executions() and time.monotonic() < deadline:
                _wait(_executions, deadline)
            _starting += 1
        token = _paced.set(True)  # copied into the execution thread's context
        try:
            return original(arn, payload)
        finally:
            _paced.reset(token)

    return dispatch_to_stepfunctions


# --- idle workers -----------------------------------------------------------------------------

_reaper_stop = threading.Event()


def _reap_idle_workers() -> None:
    while not _reaper_stop.wait(min(15.0, idle_seconds() / 4)):
        try:
            seams.awslambda.reap_idle_workers(idle_seconds())
        except Exception:
            logging.getLogger("localcloud.capacity").exception("reaping idle Lambda workers failed; retrying")


def start() -> None:
    _reaper_stop.clear()
    threading.Thread(target=_reap_idle_workers, name="localcloud-lambda-reaper", daemon=True).start()


def stop() -> None:
    _reaper_stop.set()

# --- keeping the event loop free -----------------------------------------------------------

_delivered = threading.Condition()  # a Lambda delivery finished
_lambda_pending: dict[str, deque] = {}  # per function ARN: deliveries queued or running

_pools: dict[str, ThreadPoolExecutor] = {}


def _pool(name: str, threads: int) -> ThreadPoolExecutor:
    with _guard:
        if name not in _pools:
            _pools[name] = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=f"localcloud-{name}")
        return _pools[name]


def _wrap_off_the_loop(original):
    """A rule target's delivery, made on the loop, runs on a dispatcher thread instead."""

    def deliver(*args):
        if not _on_event_loop():
            return original(*args)
        _queued.append(None)
        context = contextvars.copy_context()  # the request's account and region

        def run() -> None:
            try:
                context.run(original, *args)
            except Exception:
                logger.exception("rule target delivery failed")
            finally:
                _queued.pop()
                with _executions:
                    _executions.notify_all()

        _pool("dispatch", DISPATCH_THREADS).submit(run)

    return deliver


def _deliver_to_function(arn: str, payload: str) -> None:
    """EventBridge's asynchronous invocation, as ministack makes it (the payload as the
    event, or {"body": payload} when it is not JSON), on the calling thread."""
    try:
        event = json.loads(payload)
    except (TypeError, ValueError):
        event = {"body": payload}
    function, config, name = seams.awslambda.find_function(arn)
    if function is None or config is None:
        logger.warning("EventBridge -> Lambda: function %s not found", name)
        return
    seams.awslambda.run_function(function, config, event)


def _bounded_lambda_delivery(_original):
    """Replaces ministack's thread per delivery with a bounded pool per function."""

    def deliver(arn, payload):
        pending = _lambda_pending.setdefault(arn, deque())
        if not _on_event_loop():  # a replay or a forwarding thread: wait while this function's queue is long
            deadline = time.monotonic() + queue_seconds()
            with _delivered:
                while len(pending) >= 2 * pool_size() and time.monotonic() < deadline:
                    _wait(_delivered, deadline)
        pending.append(None)
        _queued.append(None)
        context = contextvars.copy_context()  # the request's account and region

        def run() -> None:
            try:
                context.run(_deliver_to_function, arn, payload)
            except Exception:
                logger.exception("EventBridge -> Lambda %s: delivery failed", arn)
            finally:
                pending.pop()
                _queued.pop()
                with _delivered:
                    _delivered.notify_all()
                with _executions:
                    _executions.notify_all()

        _pool(f"deliver-{arn}", pool_size()).submit(run)

    return deliver


def _heavy_reads_off_the_loop(service: str, actions: frozenset):
    def wrap(handler):
        async def handle(method, path, headers, body, query_params):
            action = headers.get("x-amz-target", "").rsplit(".", 1)[-1]
            if action not in actions or not _on_event_loop():
                return await handler(method, path, headers, body, query_params)
            context = contextvars.copy_context()
            call = handler(method, path, headers, body, query_params)
            return await asyncio.get_running_loop().run_in_executor(
                _pool(f"{service}-reads", READ_THREADS), context.run, asyncio.run, call)

        return handle

    return wrap


def needed() -> bool:
    return seams.awslambda.worker_ceiling() == 0


def install() -> None:
    seams.awslambda.wrap_service_functions({
        "acquire_worker": _wrap_acquire_worker,
        "release_worker": _wrap_release_worker,
        "_acquire_execution_slot": _wrap_acquire_slot,
        "_release_execution_slot": _wrap_release_slot,
    })
    seams.states.wrap_function("_run_execution", _wrap_run_execution)
    seams.events.wrap_function("_dispatch_to_stepfunctions", _wrap_dispatch_to_state_machine)
    seams.events.wrap_function("_dispatch_to_stepfunctions", _wrap_off_the_loop)
    seams.events.wrap_function("_dispatch_to_lambda", _bounded_lambda_delivery)
    for service, actions in _HEAVY_READS.items():
        seams.wrap_service_handler(service, _heavy_reads_off_the_loop(service, actions))
    on_capacity_wait(wait_below_max_executions)


EXTENSION = Extension(name="local_capacity", needed=needed, install=install, start=start, stop=stop)
