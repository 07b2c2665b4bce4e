"""SQS queues (standard and FIFO) as a pipe's source.

"EventBridge reads messages in batches and invokes your pipe once for each batch. When
your pipe successfully processes a batch, EventBridge deletes its messages from the
queue." A batch fills up to BatchSize (default 10) or until
MaximumBatchingWindowInSeconds passes. Records that failed stay on the queue: visible
again after the visibility timeout, dead-lettered by the queue's redrive policy past
maxReceiveCount ("A pipe inherits dead-letter queue (DLQ) behavior from the source").
FIFO queues keep each message group in order: after a record of a group fails, the
later records of that group in the batch are not deleted either.
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-sqs.html
"""

from __future__ import annotations

import logging
import threading
import time

from localcloud import seams
from localcloud.capacity import wait_for_capacity
from localcloud.services.pipes import permissions, store
from localcloud.services.pipes.execution import execute, record_id
from localcloud.services.pipes.validation import TARGET_MAX_BATCH, kind_of, source_batch_size

logger = logging.getLogger("localcloud.pipes")

IDLE_WAIT_S = 0.25  # re-check cadence for messages enqueued without a wake-up (internal sends)

# Wake-ups: every successful call to the SQS API bumps the generation.
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


def _scope(queue_arn: str) -> tuple[str, str]:
    parts = queue_arn.split(":")
    return parts[4], parts[3]


def source_exists(definition: dict) -> bool:
    return seams.sqs.queue_url_for_arn(definition["Source"]) is not None


def _receive(definition: dict, queue_url: str, limit: int) -> list[dict]:
    queue_arn = definition["Source"]
    permissions.require(definition, "sqs:ReceiveMessage", queue_arn)
    account, region = _scope(queue_arn)
    with seams.request_scope(account, region):
        messages = seams.sqs.receive_for_poller(queue_url, limit)
    return [seams.sqs.message_record(m, queue_arn, region) for m in messages]


def _delete(definition: dict, queue_url: str, records: list[dict]) -> None:
    if not records:
        return
    permissions.require(definition, "sqs:DeleteMessage", definition["Source"])
    account, region = _scope(definition["Source"])
    with seams.request_scope(account, region):
        seams.sqs.delete_for_poller(queue_url, {r["receiptHandle"] for r in records})


def _batch_size(definition: dict) -> int:
    size = source_batch_size(definition)
    if not definition.get("Enrichment"):
        size = min(size, TARGET_MAX_BATCH.get(kind_of(definition["Target"]), size))
    return max(1, min(size, 10_000))


def _collect(stop: threading.Event, definition: dict, queue_url: str) -> list[dict]:
    parameters = (definition.get("SourceParameters") or {}).get("SqsQueueParameters") or {}
    batch_size = _batch_size(definition)
    window = float(parameters.get("MaximumBatchingWindowInSeconds", 0) or 0)
    seen = _generation
    batch = _receive(definition, queue_url, min(batch_size, 10))
    if not batch:
        _wait_for_enqueue(seen, IDLE_WAIT_S)
        return []
    deadline = time.monotonic() + window
    while len(batch) < batch_size and not stop.is_set():
        seen = _generation
        more = _receive(definition, queue_url, min(batch_size - len(batch), 10))
        batch.extend(more)
        if more:
            continue
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        _wait_for_enqueue(seen, min(remaining, IDLE_WAIT_S))
    return batch


def _keep_group_order(batch: list[dict], failed: list[dict]) -> list[dict]:
    """FIFO: a failed record holds back every later record of its message group."""
    failed_ids = {record_id(r) for r in failed}
    blocked, held = set(), []
    for record in batch:
        group = record["attributes"].get("MessageGroupId")
        if record_id(record) in failed_ids or (group is not None and group in blocked):
            held.append(record)
            if group is not None:
                blocked.add(group)
    return held


def poll(key: store.Key, stop: threading.Event) -> None:
    queue_url = None
    while not stop.is_set():
        definition = store.get(key)
        if definition is None:
            return
        try:
            queue_url = queue_url or seams.sqs.queue_url_for_arn(definition["Source"])
            if queue_url is None:
                stop.wait(1.0)
                continue
            wait_for_capacity()
            if stop.is_set():
                return
            batch = _collect(stop, definition, queue_url)
            if not batch:
                continue
            account, region = key[0], key[1]
            with seams.request_scope(account, region):
                failed = execute(definition, batch)
            if definition["Source"].endswith(".fifo"):
                failed = _keep_group_order(batch, failed)
            failed_ids = {record_id(r) for r in failed}
            _delete(definition, queue_url, [r for r in batch if record_id(r) not in failed_ids])
            if definition.get("StateReason"):
                store.change(key, StateReason="")
        except permissions.AccessDenied as denied:
            # The role lost a source permission: nothing is received or deleted; the
            # pipe says why and keeps trying.
            store.change(key, StateReason=f"Pipes does not have required permissions to perform Queue operations "
                                          f"(sqs:ReceiveMessage, sqs:DeleteMessage and sqs:GetQueueAttributes): "
                                          f"{denied.message}")
            stop.wait(1.0)
        except Exception:
            logger.exception("pipe %s: poll failed; retrying", key[2])
            queue_url = None
            stop.wait(1.0)
