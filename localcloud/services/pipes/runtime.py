"""EventBridge Pipes with an SQS source: the runtime ministack lacks (definitions and pollers).

ministack 1.5.33 stores pipes but polls DynamoDB streams only, and keeps neither
SourceParameters nor TargetParameters. This extension keeps each pipe's full definition
as created through the Pipes API or CloudFormation, and runs one poller per running pipe
whose source is an SQS queue:

* batches of up to BatchSize records, waiting up to MaximumBatchingWindowInSeconds to
  fill one (0: deliver what is there at once);
* FilterCriteria (EventBridge pattern syntax; a JSON body is matched as JSON) — records
  that match no filter are deleted, as AWS does;
* InputTemplate with ``<$.path>`` placeholders (a JSON body is addressable as JSON);
* targets: an event bus (with EventBridgeEventBusParameters source/detail-type), Step
  Functions, Lambda, SQS;
* a record is deleted only after its target accepted it; anything else stays on the
  queue, becomes visible again after the visibility timeout, and moves to the queue's
  dead-letter queue past maxReceiveCount.

Pipes with other sources are left to ministack.
"""
from __future__ import annotations

import copy
import logging
import threading
import time
from dataclasses import dataclass, field

from localcloud import auth, seams
from localcloud.capacity import wait_for_capacity
from localcloud.services.pipes.delivery import process_batch

logger = logging.getLogger("localcloud.pipes")

IDLE_WAIT_S = 0.25  # re-check cadence for messages enqueued without a wake-up (internal sends)
FIELDS = ("Name", "Arn", "Source", "SourceParameters", "Target", "TargetParameters", "Enrichment",
          "EnrichmentParameters", "RoleArn", "DesiredState", "Description", "LogConfiguration")


@dataclass
class _Poller:
    key: tuple[str, str, str]
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None


_lock = threading.RLock()
_definitions: dict[tuple[str, str, str], dict] = {}  # (account, region, name) -> definition
_pollers: dict[tuple[str, str, str], _Poller] = {}
_running = False  # pollers start once the server's event loop runs

# Wake-ups: every successful SendMessage through the SQS API bumps the generation.
_wake = threading.Condition()
_generation = 0


def notify_enqueued() -> None:
    global _generation
    with _wake:
        _generation += 1
        _wake.notify_all()


def _wait_for_enqueue(seen: int, timeout: float) -> None:
    with _wake:
        if _generation == seen:
            _wake.wait(timeout)


# --- definitions ---------------------------------------------------------------------

def _is_sqs_source(definition: dict) -> bool:
    return str(definition.get("Source", "")).split(":")[2:3] == ["sqs"]


def remember(account: str, region: str, name: str, definition: dict) -> None:
    kept = {k: copy.deepcopy(v) for k, v in definition.items() if k in FIELDS and v is not None}
    kept["Name"] = name
    kept.setdefault("Arn", f"arn:aws:pipes:{region}:{account}:pipe/{name}")
    kept.setdefault("DesiredState", "RUNNING")
    with _lock:
        if _is_sqs_source(kept):
            _definitions[(account, region, name)] = kept
        else:
            _definitions.pop((account, region, name), None)
    _reconcile((account, region, name))


def update(account: str, region: str, name: str, changes: dict) -> None:
    with _lock:
        current = _definitions.get((account, region, name))
        if current is None:
            return
        merged = {**current, **{k: v for k, v in changes.items() if k in FIELDS and v is not None}}
    remember(account, region, name, merged)


def forget(account: str, region: str, name: str) -> None:
    with _lock:
        _definitions.pop((account, region, name), None)
    _reconcile((account, region, name))


def definition(account: str, region: str, name: str) -> dict | None:
    with _lock:
        found = _definitions.get((account, region, name))
        return copy.deepcopy(found) if found else None


# --- poller lifecycle ----------------------------------------------------------------------

def _reconcile(key: tuple[str, str, str]) -> None:
    """Start or stop the poller of ``key`` to match its definition's desired state."""
    with _lock:
        wanted = _running and key in _definitions and _definitions[key].get("DesiredState", "RUNNING") == "RUNNING" \
            and not _definitions[key].get("Enrichment")
        if key in _definitions and _definitions[key].get("Enrichment"):
            logger.error("pipe %s: enrichment is not supported by the local Pipes runtime; the pipe does not run", key[2])
        poller = _pollers.get(key)
        if wanted and (poller is None or not poller.thread or not poller.thread.is_alive()):
            poller = _Poller(key)
            poller.thread = threading.Thread(target=_poll, args=(poller,), name=f"pipe-{key[2]}", daemon=True)
            _pollers[key] = poller
            poller.thread.start()
        elif not wanted and poller is not None:
            poller.stop.set()
            _pollers.pop(key, None)
    if not wanted and poller is not None and poller.thread is not threading.current_thread():
        poller.thread.join(timeout=5)


def start() -> None:
    global _running
    with _lock:
        _running = True
        keys = list(_definitions)
    for key in keys:
        _reconcile(key)


def stop() -> None:
    global _running
    with _lock:
        _running = False
        pollers = list(_pollers.values())
        _pollers.clear()
    for poller in pollers:
        poller.stop.set()
    notify_enqueued()
    for poller in pollers:
        if poller.thread:
            poller.thread.join(timeout=5)


# --- the poll loop ---------------------------------------------------------------------------

def _queue_scope(queue_arn: str) -> tuple[str, str]:
    parts = queue_arn.split(":")
    return parts[4], parts[3]


def _as_pipe_role(definition: dict, actions: tuple[str, ...], resource: str) -> None:
    """Pipes assumes the pipe's role and reads its source as that role (raises AccessDenied)."""
    account = definition.get("Arn", "::::").split(":")[4]
    source = {"aws:SourceArn": definition.get("Arn", ""), "aws:SourceAccount": account}
    role = auth.acting_role("pipes.amazonaws.com", definition.get("RoleArn", ""), **source)
    for action in actions:
        auth.require(role, action, resource)


def _receive(definition: dict, queue_url: str, queue_arn: str, limit: int) -> list[dict]:
    _as_pipe_role(definition, ("sqs:ReceiveMessage",), queue_arn)
    account, region = _queue_scope(queue_arn)
    with seams.request_scope(account, region):
        messages = seams.sqs.receive_for_poller(queue_url, limit)
    return [seams.sqs.message_record(m, queue_arn, region) for m in messages]


def _delete(definition: dict, queue_url: str, queue_arn: str, receipt_handles: set[str]) -> None:
    if not receipt_handles:
        return
    _as_pipe_role(definition, ("sqs:DeleteMessage",), queue_arn)
    account, region = _queue_scope(queue_arn)
    with seams.request_scope(account, region):
        seams.sqs.delete_for_poller(queue_url, receipt_handles)


def _collect_batch(poller: _Poller, definition: dict, queue_url: str, queue_arn: str) -> list[dict]:
    parameters = (definition.get("SourceParameters") or {}).get("SqsQueueParameters") or {}
    batch_size = max(1, min(int(parameters.get("BatchSize", 10)), 10_000))
    window = float(parameters.get("MaximumBatchingWindowInSeconds", 0) or 0)
    seen = _generation
    batch = _receive(definition, queue_url, queue_arn, min(batch_size, 10))
    if not batch:
        _wait_for_enqueue(seen, IDLE_WAIT_S)
        return []
    deadline = time.monotonic() + window
    while len(batch) < batch_size and not poller.stop.is_set():
        seen = _generation
        more = _receive(definition, queue_url, queue_arn, min(batch_size - len(batch), 10))
        batch.extend(more)
        if more:
            continue
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        _wait_for_enqueue(seen, min(remaining, IDLE_WAIT_S))
    return batch


def _poll(poller: _Poller) -> None:
    account, region, name = poller.key
    queue_url = None
    while not poller.stop.is_set():
        current = definition(account, region, name)
        if current is None:
            return
        try:
            queue_arn = current["Source"]
            if queue_url is None:
                queue_url = seams.sqs.queue_url_for_arn(queue_arn)
                if queue_url is None:
                    poller.stop.wait(1.0)
                    continue
            wait_for_capacity()
            if poller.stop.is_set():
                return
            batch = _collect_batch(poller, current, queue_url, queue_arn)
            if not batch:
                continue
            with seams.request_scope(account, region):
                accepted = process_batch(current, batch)
            _delete(current, queue_url, queue_arn, accepted)
        except auth.AccessDenied as denied:
            logger.warning("pipe %s: %s; the messages stay on the source", name, denied.message)
            poller.stop.wait(1.0)
        except Exception:
            logger.exception("pipe %s: poll failed; retrying", name)
            queue_url = None
            poller.stop.wait(1.0)
