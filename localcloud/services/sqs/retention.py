"""SQS MessageRetentionPeriod applied in the background too: ministack applies it when a
queue is read, so a queue nobody reads (a dead-letter queue) kept its expired messages in
memory. "Messages that exist in the queue longer than the retention period are deleted"
(https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SetQueueAttributes.html).
"""

from __future__ import annotations

from localcloud import seams
from localcloud.extension import Extension
from localcloud.state import retention


def needed() -> bool:
    """ministack 1.5.33 has no background expiry (there is nothing to probe without
    waiting a whole retention period); a sweep is harmless if it ever gains one."""
    return True


def start() -> None:
    retention.register("sqs retention", seams.sqs.expire_retained_messages)


EXTENSION = Extension(name="sqs_retention_sweep", needed=needed, install=lambda: None, start=start)
