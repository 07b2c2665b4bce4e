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


def send_message(queue_arn: str, body: str, attributes: dict[str, str]) -> str | None:
    """Put a message on a queue as an AWS service delivers it (a dead-letter queue of a rule
    target), in the queue's own scope; the message id, or None when the queue is gone."""
    from ministack.services import sqs

    from localcloud.seams.core import request_scope

    url = queue_url_for_arn(queue_arn)
    if url is None:
        return None
    parts = queue_arn.split(":")
    message = {"QueueUrl": url, "MessageBody": body, "MessageAttributes": {
        name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()}}
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
