"""SQS: ministack's queue store and message records, its request dispatcher, and the
receive/delete pair it provides for in-process pollers.

Queue and message records are ministack's own dicts; the helpers here are the only
places that know their field names.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def module():
    from ministack.services import sqs

    return sqs


def receive_for_poller(queue_url: str, max_messages: int) -> list[dict]:
    return module()._receive_messages_for_esm(queue_url, max_messages)


def delete_for_poller(queue_url: str, receipt_handles: set[str]) -> None:
    module()._delete_messages_for_esm(queue_url, receipt_handles)


def queue_url_for_arn(queue_arn: str) -> str | None:
    queue = module()._queue_by_arn(queue_arn)
    return queue.get("url") if queue else None


def message_record(message: dict, queue_arn: str, region: str) -> dict:
    """An SQS message (as the poller receive returns it) in the record shape AWS pollers
    (Lambda event source mappings, Pipes) deliver."""
    system = message.get("sys") or {}
    attributes = {
        "ApproximateReceiveCount": str(message.get("receive_count", 1)),
        "SentTimestamp": system.get("SentTimestamp", str(int(message.get("sent_at", 0) * 1000))),
        "SenderId": system.get("SenderId", ""),
        "ApproximateFirstReceiveTimestamp": str(int((message.get("first_receive_at") or 0) * 1000)),
    }
    # FIFO queues: ministack keeps these beside the message, not among its system attributes.
    for key, field in (("MessageGroupId", "group_id"), ("MessageDeduplicationId", "dedup_id"),
                       ("SequenceNumber", "seq")):
        if message.get(field):
            attributes[key] = message[field]
    return {
        "messageId": message["id"],
        "receiptHandle": message["receipt_handle"],
        "body": message["body"],
        "attributes": attributes,
        "messageAttributes": message.get("message_attributes") or {},
        "md5OfBody": message.get("md5_body", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def queue_policy_and_key(queue_arn: str) -> tuple[str, str] | None:
    """(Policy, KmsMasterKeyId) of the queue ``queue_arn`` in any account; None when there is none."""
    from ministack.services import sqs

    queue = sqs._queue_by_arn(queue_arn)
    if queue is None:
        return None
    attributes = queue.get("attributes") or {}
    return attributes.get("Policy") or "", attributes.get("KmsMasterKeyId") or ""


def disable_queue_policy_check() -> None:
    """ministack (AUTH=true) checks queue policies inside the SQS handler itself, with a
    transport and caller of its own; the local cloud's evaluation does that job once, for
    API calls and in-process calls alike."""
    from ministack.services import sqs

    sqs._enforce_queue_policy = lambda queue, iam_action: None


def send_message(queue_arn: str, body: str, attributes: dict[str, str]) -> str | None:
    """Put a message on a queue as an AWS service delivers it (a dead-letter queue of a rule
    target), in the queue's own scope; the message id, or None when the queue is gone."""
    from ministack.services import sqs

    from localcloud.seams.core import request_scope

    url = queue_url_for_arn(queue_arn)
    if url is None:
        return None
    parts = queue_arn.split(":")
    message = {"QueueUrl": url, "MessageBody": body, "MessageAttributes": {  # SQS refuses empty values
        name: {"DataType": "String", "StringValue": value} for name, value in attributes.items() if value}}
    with request_scope(parts[4], parts[3]):
        return sqs._act_send_message(message, url).get("MessageId")


def queue_arn_for_url(queue_url: str) -> str | None:
    """The ARN of the queue a URL names, in any account."""
    from ministack.services import sqs

    account, name = sqs._queue_ref_from_urlish(queue_url)
    for (owner, _region, _url), queue in list(sqs._queues.all_items()):
        arn = (queue.get("attributes") or {}).get("QueueArn", "")
        if arn.rsplit(":", 1)[-1] == name and (account is None or owner == account):
            return arn
    return None


def expire_retained_messages() -> int:
    """Apply MessageRetentionPeriod to every queue now (ministack applies it whenever a
    queue is read); returns how many messages went."""
    from ministack.services import sqs

    removed = 0
    with sqs._queues_lock:
        for queue in list(sqs._queues.all_values()):
            before = len(queue.get("messages") or [])
            sqs._expire_retained(queue)
            removed += before - len(queue.get("messages") or [])
    return removed


# --- the request dispatcher and the functions it reaches -------------------------------

def wrap_function(name: str, make_wrapper: Callable[[Callable], Callable]) -> None:
    """Wrap one of ministack's SQS module functions, looked up by name at call time:
    ``_dispatch(action, data, queue_url)`` (async; every API call of both protocols, with
    the request already in the JSON protocol's shape), ``_collect_msgs(queue, max_n,
    visibility_timeout)`` (a receive of either queue type) and ``_collect_fifo(queue,
    max_n, visibility_timeout, now)`` (a FIFO queue's receive)."""
    sqs = module()
    setattr(sqs, name, make_wrapper(getattr(sqs, name)))


def error(code: str, message: str, status: int = 400) -> Exception:
    """An exception ministack's protocol layers render as AWS's error ``code``."""
    return module()._Err(code, message, status)


def error_type() -> type[Exception]:
    """The exception type ministack's SQS actions raise for AWS errors."""
    return module()._Err


def error_fields(error: Exception) -> tuple[str, str]:
    """(AWS error code, message) of an exception of :func:`error_type`."""
    return error.code, error.message


def action(name: str) -> Callable[[dict, str], dict]:
    """ministack's synchronous implementation of one SQS action: ``fn(request, queue_url)``."""
    return module()._HANDLERS[name]


def queue_for_url(queue_url: str) -> dict | None:
    """The queue a QueueUrl names in the current scope (no policy check), or None."""
    sqs = module()
    try:
        return sqs._get_q(queue_url)
    except sqs._Err:
        return None


def queue_arn(queue: dict) -> str:
    return queue["attributes"].get("QueueArn", "")


def queue_name(queue: dict) -> str:
    return queue["name"]


def queue_is_fifo(queue: dict) -> bool:
    return bool(queue.get("is_fifo"))


def queue_max_message_size(queue: dict) -> int:
    return int(queue["attributes"].get("MaximumMessageSize", "1048576"))


def queue_messages(queue: dict) -> list[dict]:
    return queue["messages"]


def message_id(message: dict) -> str:
    return message["id"]


def message_body(message: dict) -> str:
    return message["body"]


def message_group(message: dict) -> str | None:
    return message.get("group_id")


def receipt_handle(message: dict) -> str | None:
    return message.get("receipt_handle")


def set_receipt_handle(message: dict, handle: str) -> None:
    message["receipt_handle"] = handle


def is_visible(message: dict, now: float | None = None) -> bool:
    return message["visible_at"] <= (time.time() if now is None else now)


def is_in_flight(message: dict, now: float | None = None) -> bool:
    """Received and not yet visible again."""
    return message.get("receive_count", 0) > 0 and not is_visible(message, now)


def mark_received(message: dict, visibility_timeout: float, now: float) -> None:
    """What a receive does to a message: hidden for the visibility timeout, counted."""
    module()._ensure_msg_fields(message)
    message["visible_at"] = now + visibility_timeout
    message["receive_count"] = message.get("receive_count", 0) + 1
    if message.get("first_receive_at") is None:
        message["first_receive_at"] = now


def prepare_messages(queue: dict) -> None:
    """Fill the fields ministack's receive expects on messages other producers enqueued."""
    for message in queue["messages"]:
        module()._ensure_msg_fields(message)


# --- probes: does ministack already do the job? ----------------------------------------

def probe_queue(name: str, attributes: dict | None = None):
    """A scratch queue in a throw-away account, removed on exit: yields its URL."""
    from contextlib import contextmanager

    from localcloud.seams.core import PROBE_ACCOUNT_A, PROBE_REGION, request_scope

    @contextmanager
    def scratch():
        with request_scope(PROBE_ACCOUNT_A, PROBE_REGION):
            url = action("CreateQueue")({"QueueName": name, "Attributes": attributes or {}}, "")["QueueUrl"]
            try:
                yield url
            finally:
                action("DeleteQueue")({"QueueUrl": url}, url)

    return scratch()


def probe_receive(queue_url: str, max_messages: int = 10) -> list[dict]:
    """A receive in the probe scope (ministack's own collection, visibility 30 s)."""
    return module()._collect_msgs(queue_for_url(queue_url), max_messages, 30)


def has_action(action: str) -> bool:
    """Whether ministack's SQS answers ``action`` (its action table), for an extension's probe."""
    from ministack.services import sqs

    return action in sqs._HANDLERS
