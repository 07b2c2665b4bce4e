"""SQS: the receive/delete pair ministack provides for in-process pollers, and queue lookup."""

from __future__ import annotations


def receive_for_poller(queue_url: str, max_messages: int) -> list[dict]:
    from ministack.services import sqs

    return sqs._receive_messages_for_esm(queue_url, max_messages)


def delete_for_poller(queue_url: str, receipt_handles: set[str]) -> None:
    from ministack.services import sqs

    sqs._delete_messages_for_esm(queue_url, receipt_handles)


def queue_url_for_arn(queue_arn: str) -> str | None:
    from ministack.services import sqs

    queue = sqs._queue_by_arn(queue_arn)
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
    for key in ("MessageGroupId", "MessageDeduplicationId", "SequenceNumber"):
        if system.get(key):
            attributes[key] = system[key]
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
