"""Receipt handles that behave as AWS's do.

ministack 1.5.33 answers ReceiptHandleIsInvalid for any handle that is not the one a
message holds right now: deleting a message twice, or after its visibility timeout
passed and someone received it again, fails. AWS documents and records otherwise:

* a standard queue accepts a delete with an old handle ("the request succeeds, but the
  message might not be deleted"), and a second delete of a deleted message succeeds;
* a FIFO queue refuses an expired handle: InvalidParameterValue "The receipt handle has
  expired.";
* a handle that is not a receipt handle at all is ReceiptHandleIsInvalid;
* ChangeMessageVisibility with the handle of a message that is gone is
  InvalidParameterValue "Message does not exist or is not available for visibility
  timeout change."

So handles here name their queue and message: every receive issues
``base64url(queue ARN, message id, nonce)``. Anything that does not decode to a message
of this queue is not a receipt handle. An old handle of a standard queue's message that
was received again since leaves that message alone (the conservative reading of "might
not be deleted": a consumer that deleted late sees the message again, locally as on AWS).

Sources: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_DeleteMessage.html
and LocalStack's AWS-validated tests test_delete_message_with_deleted_receipt_handle,
test_remove_message_with_old_receipt_handle, test_fifo_delete_after_visibility_timeout
(tests/aws/services/sqs/test_sqs.snapshot.json).
"""

from __future__ import annotations

import base64
import binascii
import uuid

from localcloud import seams
from localcloud.extension import Extension

_SEPARATOR = "\n"


def encode(queue_arn: str, message_id: str) -> str:
    raw = _SEPARATOR.join((queue_arn, message_id, uuid.uuid4().hex)).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(handle: str) -> tuple[str, str] | None:
    """(queue ARN, message id) of a handle this local cloud issued, else None."""
    if not isinstance(handle, str) or not handle:
        return None
    try:
        raw = base64.urlsafe_b64decode(handle + "=" * (-len(handle) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    parts = raw.split(_SEPARATOR)
    if len(parts) != 3 or not parts[0].startswith("arn:") or len(parts[2]) != 32:
        return None
    return parts[0], parts[1]


def not_a_handle(handle: str) -> Exception:
    return seams.sqs.error("ReceiptHandleIsInvalid", f'The input receipt handle "{handle}" is not a valid receipt handle.')


def expired(handle: str) -> Exception:
    return seams.sqs.error("InvalidParameterValue",
                           f"Value {handle} for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired.")


def not_available(handle: str) -> Exception:
    return seams.sqs.error(
        "InvalidParameterValue",
        f"Value {handle} for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not "
        "available for visibility timeout change.")


def _message(queue: dict, handle: str) -> tuple[dict | None, bool]:
    """(the message the handle names, whether the handle is the message's current one);
    raises ReceiptHandleIsInvalid for anything that is not a handle of this queue."""
    decoded = decode(handle)
    if decoded is None or decoded[0] != seams.sqs.queue_arn(queue):
        raise not_a_handle(handle)
    message = next((m for m in seams.sqs.queue_messages(queue) if seams.sqs.message_id(m) == decoded[1]), None)
    return message, message is not None and seams.sqs.receipt_handle(message) == handle


def delete_outcome(queue: dict, handle: str) -> bool:
    """True when ministack should delete (the handle is current); False for a delete AWS
    accepts without effect; raises what AWS raises."""
    message, current = _message(queue, handle)
    if message is None:
        return False  # already deleted (or gone by retention): AWS accepts it
    if seams.sqs.queue_is_fifo(queue) and not (current and seams.sqs.is_in_flight(message)):
        raise expired(handle)
    return current


def _delete(request: dict, queue_url: str) -> dict:
    queue = seams.sqs.queue_for_url(queue_url)
    if queue is None:
        return seams.sqs.action("DeleteMessage")(request, queue_url)  # ministack's QueueDoesNotExist
    if delete_outcome(queue, request.get("ReceiptHandle", "")):
        return seams.sqs.action("DeleteMessage")(request, queue_url)
    return {}


def _failure(entry_id: str, error: Exception) -> dict:
    code, message = seams.sqs.error_fields(error)
    return {"Id": entry_id, "Code": code, "Message": message, "SenderFault": True}


def _delete_batch(request: dict, queue_url: str) -> dict:
    queue = seams.sqs.queue_for_url(queue_url)
    entries = request.get("Entries") or []
    if queue is None or not entries or len(entries) > 10:
        return seams.sqs.action("DeleteMessageBatch")(request, queue_url)  # ministack's request-level errors
    successful, failed = [], []
    for entry in entries:
        try:
            if delete_outcome(queue, entry.get("ReceiptHandle", "")):
                seams.sqs.action("DeleteMessage")({"QueueUrl": queue_url, "ReceiptHandle": entry["ReceiptHandle"]},
                                                  queue_url)
            successful.append({"Id": entry.get("Id", "")})
        except seams.sqs.error_type() as error:
            failed.append(_failure(entry.get("Id", ""), error))
    return {"Successful": successful, "Failed": failed}


def _check_visibility_change(queue: dict, handle: str) -> None:
    message, current = _message(queue, handle)
    if message is None or not current:
        raise not_available(handle)


def _change_visibility(request: dict, queue_url: str) -> dict:
    queue = seams.sqs.queue_for_url(queue_url)
    if queue is not None:
        _check_visibility_change(queue, request.get("ReceiptHandle", ""))
    return seams.sqs.action("ChangeMessageVisibility")(request, queue_url)


def _change_visibility_batch(request: dict, queue_url: str) -> dict:
    queue = seams.sqs.queue_for_url(queue_url)
    entries = request.get("Entries") or []
    if queue is None or not entries or len(entries) > 10:
        return seams.sqs.action("ChangeMessageVisibilityBatch")(request, queue_url)
    refused, accepted = [], []
    for entry in entries:
        try:
            _check_visibility_change(queue, entry.get("ReceiptHandle", ""))
            accepted.append(entry)
        except seams.sqs.error_type() as error:
            refused.append(_failure(entry.get("Id", ""), error))
    result = {"Successful": [], "Failed": []}
    if accepted:
        result = seams.sqs.action("ChangeMessageVisibilityBatch")({**request, "Entries": accepted}, queue_url)
    return {"Successful": result.get("Successful", []), "Failed": result.get("Failed", []) + refused}


_ACTIONS = {
    "DeleteMessage": _delete,
    "DeleteMessageBatch": _delete_batch,
    "ChangeMessageVisibility": _change_visibility,
    "ChangeMessageVisibilityBatch": _change_visibility_batch,
}


def _wrap_dispatch(original):
    async def dispatch(action, data, queue_url):
        handler = _ACTIONS.get(action)
        if handler is None:
            return await original(action, data, queue_url)
        return handler(data, data.get("QueueUrl") or queue_url)

    return dispatch


def _wrap_collect(original):
    def collect_msgs(queue, max_n, visibility_timeout):
        received = original(queue, max_n, visibility_timeout)
        arn = seams.sqs.queue_arn(queue)
        for message in received:
            seams.sqs.set_receipt_handle(message, encode(arn, seams.sqs.message_id(message)))
        return received

    return collect_msgs


def needed() -> bool:
    """Does ministack refuse a second delete of a deleted message (AWS accepts it)?"""
    with seams.sqs.probe_queue("localcloud-probe-receipts") as url:
        seams.sqs.action("SendMessage")({"QueueUrl": url, "MessageBody": "probe"}, url)
        handle = seams.sqs.receipt_handle(seams.sqs.probe_receive(url)[0])
        delete = seams.sqs.action("DeleteMessage")
        delete({"QueueUrl": url, "ReceiptHandle": handle}, url)
        try:
            delete({"QueueUrl": url, "ReceiptHandle": handle}, url)
        except seams.sqs.error_type():
            return True
        return False


def install() -> None:
    seams.sqs.wrap_function("_collect_msgs", _wrap_collect)
    seams.sqs.wrap_function("_dispatch", _wrap_dispatch)


EXTENSION = Extension(name="sqs_receipt_handles", needed=needed, install=install)
