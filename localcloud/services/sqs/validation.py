"""SQS requests AWS refuses, refused locally too (ministack 1.5.33 accepts them).

* ReceiveMessage with WaitTimeSeconds outside 0..20: InvalidParameterValue "Value 21 for
  parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided."
  (ministack waits 21 s).
* A second PurgeQueue within 60 s: 403 AWS.SimpleQueueService.PurgeQueueInProgress
  "Only one PurgeQueue operation on <name> is allowed every 60 seconds."
* CreateQueue with the name of a queue deleted less than 60 s ago: QueueDeletedRecently
  "You must wait 60 seconds after deleting a queue before you can create another with
  the same name."
* The message size counts message attributes (name, type and value) as well as the
  body: "Message must be shorter than <MaximumMessageSize> bytes." (batch entries fail
  with "One or more parameters cannot be validated. Reason: ...").
* Boolean attributes are case-insensitive: ``ContentBasedDeduplication: "True"`` turns
  content-based deduplication on, as on AWS (ministack stores "True" and ignores it).

Sources: LocalStack's AWS-recorded snapshots test_send_receive_wait_time_seconds,
test_successive_purge_calls_fail, test_send_batch_message_size,
test_send_message_with_updated_maximum_message_size (tests/aws/services/sqs/test_sqs.snapshot.json),
its AWS-validated test_create_queue_recently_deleted, and
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_DeleteQueue.html,
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_PurgeQueue.html,
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-message-metadata.html
"""

from __future__ import annotations

import threading
import time

from localcloud import seams
from localcloud.extension import Extension

COOL_DOWN_S = 60.0
BOOLEAN_ATTRIBUTES = ("FifoQueue", "ContentBasedDeduplication", "SqsManagedSseEnabled")

_lock = threading.Lock()
_purged_at: dict[str, float] = {}  # queue ARN -> monotonic time of its last purge
_deleted_at: dict[str, float] = {}  # queue ARN -> monotonic time of its deletion


def _recent(moments: dict[str, float], key: str) -> bool:
    now = time.monotonic()
    with _lock:
        for stale in [k for k, at in moments.items() if now - at >= COOL_DOWN_S]:
            del moments[stale]
        return key in moments


def _mark(moments: dict[str, float], key: str) -> None:
    with _lock:
        moments[key] = time.monotonic()


def _queue_arn_for_name(name: str) -> str:
    return f"arn:aws:sqs:{seams.current_region()}:{seams.current_account()}:{name}"


def check_wait_time(request: dict) -> None:
    wait = request.get("WaitTimeSeconds")
    if wait is None:
        return
    try:
        value = int(wait)
    except (TypeError, ValueError):
        value = -1
    if not 0 <= value <= 20:
        raise seams.sqs.error("InvalidParameterValue", f"Value {wait} for parameter WaitTimeSeconds is invalid. "
                                                       "Reason: Must be >= 0 and <= 20, if provided.")


def normalise_booleans(attributes: dict | None) -> None:
    for name in BOOLEAN_ATTRIBUTES:
        value = (attributes or {}).get(name)
        if isinstance(value, str) and value.lower() in ("true", "false"):
            attributes[name] = value.lower()


def _attribute_bytes(attributes: dict | None) -> int:
    total = 0
    for name, value in (attributes or {}).items():
        total += len(name.encode()) + len(str(value.get("DataType", "")).encode())
        if "StringValue" in value:
            total += len(str(value["StringValue"]).encode())
        if "BinaryValue" in value:
            binary = value["BinaryValue"]
            total += len(binary if isinstance(binary, bytes | bytearray) else str(binary).encode())
    return total


def message_size(entry: dict) -> int:
    """The size AWS checks against MaximumMessageSize: the body plus every attribute's
    name, data type and value, in bytes."""
    return len(str(entry.get("MessageBody") or "").encode()) + _attribute_bytes(entry.get("MessageAttributes"))


def oversize_reason(queue: dict, entry: dict) -> str | None:
    limit = seams.sqs.queue_max_message_size(queue)
    return f"Message must be shorter than {limit} bytes." if message_size(entry) > limit else None


async def _send(original_dispatch, request: dict, queue_url: str):
    queue = seams.sqs.queue_for_url(queue_url)
    reason = oversize_reason(queue, request) if queue else None
    if reason:
        raise seams.sqs.error("InvalidParameterValue", f"One or more parameters are invalid. Reason: {reason}")
    return await original_dispatch("SendMessage", request, queue_url)


async def _send_batch(original_dispatch, request: dict, queue_url: str):
    queue = seams.sqs.queue_for_url(queue_url)
    entries = request.get("Entries") or []
    if queue is None or not entries or len(entries) > 10:
        return await original_dispatch("SendMessageBatch", request, queue_url)
    oversized = {}
    for entry in entries:
        reason = oversize_reason(queue, entry)
        if reason:
            oversized[entry.get("Id", "")] = {
                "Id": entry.get("Id", ""), "Code": "InvalidParameterValue", "SenderFault": True,
                "Message": f"One or more parameters cannot be validated. Reason: {reason}"}
    accepted = [e for e in entries if e.get("Id", "") not in oversized]
    result = {"Successful": [], "Failed": []}
    if accepted:
        result = await original_dispatch("SendMessageBatch", {**request, "Entries": accepted}, queue_url)
    return {"Successful": result.get("Successful", []), "Failed": result.get("Failed", []) + list(oversized.values())}


def _wrap_dispatch(original):
    async def dispatch(action, data, queue_url):
        url = data.get("QueueUrl") or queue_url
        if action == "ReceiveMessage":
            check_wait_time(data)
        elif action in ("CreateQueue", "SetQueueAttributes"):
            normalise_booleans(data.get("Attributes"))
            if action == "CreateQueue" and _recent(_deleted_at, _queue_arn_for_name(data.get("QueueName", ""))):
                raise seams.sqs.error("QueueDeletedRecently", "You must wait 60 seconds after deleting a queue before "
                                                              "you can create another with the same name.")
        elif action == "SendMessage":
            return await _send(original, data, url)
        elif action == "SendMessageBatch":
            return await _send_batch(original, data, url)
        elif action == "PurgeQueue":
            queue = seams.sqs.queue_for_url(url)
            if queue is not None and _recent(_purged_at, seams.sqs.queue_arn(queue)):
                raise seams.sqs.error("PurgeQueueInProgress", f"Only one PurgeQueue operation on "
                                      f"{seams.sqs.queue_name(queue)} is allowed every 60 seconds.", 403)
            result = await original(action, data, queue_url)
            if queue is not None:
                _mark(_purged_at, seams.sqs.queue_arn(queue))
            return result
        elif action == "DeleteQueue":
            queue = seams.sqs.queue_for_url(url)
            result = await original(action, data, queue_url)
            if queue is not None:
                _mark(_deleted_at, seams.sqs.queue_arn(queue))
            return result
        return await original(action, data, queue_url)

    return dispatch


def needed() -> bool:
    """Does ministack ignore ``ContentBasedDeduplication: "True"`` (AWS honours it)?"""
    with seams.sqs.probe_queue("localcloud-probe-bools.fifo", {"FifoQueue": "true", "ContentBasedDeduplication": "True"}) as url:
        try:
            seams.sqs.action("SendMessage")({"QueueUrl": url, "MessageBody": "probe", "MessageGroupId": "g"}, url)
        except seams.sqs.error_type():
            return True
        return False


def install() -> None:
    seams.sqs.wrap_function("_dispatch", _wrap_dispatch)


EXTENSION = Extension(name="sqs_validation", needed=needed, install=install)
