"""SQS queue with a dead-letter queue, KMS encryption and TLS enforced."""

from aws_cdk import Duration
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.nag import acknowledge

# SQS's historical limit, set explicitly: newer queues default to 1 MiB, and the API
# contract (a clear 4xx above 256 KiB) must not drift with that default.
MAX_MESSAGE_BYTES = 262_144
# A dead-letter queue holds what failed somewhere else, which can be bigger than what the
# ingress takes: a rule target's dead letter is the whole event around a body (the body,
# the pipe's SQS record, the envelope), and an event too big for its target is exactly what
# lands there. A DLQ that refuses it loses it (EventBridge drops an event its DLQ refuses).
# 1 MiB is SQS's maximum and holds any event PutEvents accepts (entries up to 1 MB).
DEAD_LETTER_MAX_MESSAGE_BYTES = 1_048_576


class EncryptedQueueWithDlq(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        max_receive_count: int,
        visibility_timeout: Duration = Duration.seconds(30),
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letter_queue = encrypted_queue(self, "DeadLetterQueue", key=key)
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            max_message_size_bytes=MAX_MESSAGE_BYTES,
            retention_period=Duration.days(4),
            visibility_timeout=visibility_timeout,
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letter_queue, max_receive_count=max_receive_count),
        )


def encrypted_queue(scope: Construct, construct_id: str, *, key: kms.IKey) -> sqs.Queue:
    """A queue that is itself a dead-letter queue: keeps messages the longest and largest SQS allows."""
    queue = sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key,
        enforce_ssl=True,
        max_message_size_bytes=DEAD_LETTER_MAX_MESSAGE_BYTES,
        retention_period=Duration.days(14),
    )
    acknowledge(queue, {"AwsSolutions-SQS3": "This queue is a dead-letter queue (of a rule target, a workflow "
                        "or a redrive policy); a dead-letter queue of its own would only move the problem."})
    return queue
