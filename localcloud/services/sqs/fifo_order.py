"""FIFO receives return a message group's messages together, as AWS does.

ministack 1.5.33 takes a FIFO queue's visible messages in send order across groups, so
one receive of g1-m1, g2-m1, g1-m2 (sent in that order) returns them interleaved, and a
receive of two returns g1-m1 and g2-m1. AWS "first attempts to return as many messages
with the same message group ID as possible": g1-m1, g1-m2, then g2-m1. A group with a
message in flight stays closed until that message is deleted or visible again.

Sources: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/FIFO-queues-understanding-logic.html
and LocalStack's AWS-validated tests test_fifo_receive_message_group_id_ordering and
test_fifo_receive_message_visibility_timeout_shared_in_group (tests/aws/services/sqs/test_sqs.py).
"""

from __future__ import annotations

from localcloud import seams
from localcloud.extension import Extension


def collect(queue: dict, max_messages: int, visibility_timeout: float, now: float) -> list[dict]:
    """Receive up to ``max_messages`` from a FIFO queue: whole groups first, in the order
    their oldest visible message was sent; groups with a message in flight are skipped."""
    seams.sqs.prepare_messages(queue)
    messages = seams.sqs.queue_messages(queue)
    closed = {seams.sqs.message_group(m) for m in messages if seams.sqs.is_in_flight(m, now)}
    groups: dict[str | None, list[dict]] = {}
    for message in messages:
        group = seams.sqs.message_group(message)
        if group in closed:
            continue
        if not seams.sqs.is_visible(message, now):
            closed.add(group)  # a later message never overtakes an earlier one of its group
            continue
        groups.setdefault(group, []).append(message)
    received = [m for members in groups.values() for m in members][:max_messages]
    for message in received:
        seams.sqs.mark_received(message, visibility_timeout, now)
        seams.sqs.set_receipt_handle(message, seams.new_id())
    return received


def _wrap_collect_fifo(_original):
    def collect_fifo(queue, max_n, vis_timeout, now):
        return collect(queue, max_n, vis_timeout, now)

    return collect_fifo


def needed() -> bool:
    """Does ministack interleave groups in one receive?"""
    with seams.sqs.probe_queue("localcloud-probe-order.fifo", {"FifoQueue": "true"}) as url:
        send = seams.sqs.action("SendMessage")
        for body, group in (("a1", "a"), ("b1", "b"), ("a2", "a")):
            send({"QueueUrl": url, "MessageBody": body, "MessageGroupId": group, "MessageDeduplicationId": body}, url)
        return [seams.sqs.message_body(m) for m in seams.sqs.probe_receive(url)] != ["a1", "a2", "b1"]


def install() -> None:
    seams.sqs.wrap_function("_collect_fifo", _wrap_collect_fifo)


EXTENSION = Extension(name="sqs_fifo_group_order", needed=needed, install=install)
