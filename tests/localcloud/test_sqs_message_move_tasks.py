"""SQS dead-letter queue redrive (message move tasks), as AWS documents and answers it:
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_StartMessageMoveTask.html
and the responses AWS recorded in LocalStack's tests/aws/services/sqs/test_sqs_move_task.snapshot.json
(errors: codes, messages and statuses; results: fields present per task state)."""

from __future__ import annotations

import json
import time

import pytest
from botocore.exceptions import ClientError

from .conftest import ACCOUNT_A, REGION, drain, queue_arn, queue_depth, wait_for


@pytest.fixture
def dead_lettered(aws, unique):
    """(sqs, source URL, source ARN, DLQ URL, DLQ ARN) with three messages dead-lettered from the source."""
    sqs = aws("sqs")
    dlq_url = sqs.create_queue(QueueName=unique("move-dlq"))["QueueUrl"]
    dlq = queue_arn(sqs, dlq_url)
    source_url = sqs.create_queue(QueueName=unique("move-src"), Attributes={
        "VisibilityTimeout": "0", "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq, "maxReceiveCount": "1"})})["QueueUrl"]
    for n in range(3):
        sqs.send_message(QueueUrl=source_url, MessageBody=f"order {n}",
                         MessageAttributes={"kind": {"DataType": "String", "StringValue": "order"}})
    # one receive each, then the next receive moves them to the DLQ (maxReceiveCount 1)
    assert wait_for(lambda: (sqs.receive_message(QueueUrl=source_url, MaxNumberOfMessages=10, VisibilityTimeout=0)
                             and queue_depth(sqs, dlq_url) == 3), timeout=10)
    return sqs, source_url, queue_arn(sqs, source_url), dlq_url, dlq


def _code(error: ClientError) -> tuple[str, str, int]:
    return (error.response["Error"]["Code"], error.response["Error"]["Message"],
            error.response["ResponseMetadata"]["HTTPStatusCode"])


def test_a_redrive_moves_dead_letters_back_to_their_source_queue(dead_lettered):
    sqs, source_url, source, dlq_url, dlq = dead_lettered
    handle = sqs.start_message_move_task(SourceArn=dlq)["TaskHandle"]
    assert handle

    tasks = wait_for(lambda: [t for t in sqs.list_message_move_tasks(SourceArn=dlq)["Results"]
                              if t["Status"] == "COMPLETED"], timeout=10)
    assert tasks, sqs.list_message_move_tasks(SourceArn=dlq)
    task = tasks[0]
    # With the default destination, AWS lists no DestinationArn; a finished task has no TaskHandle.
    assert set(task) == {"ApproximateNumberOfMessagesMoved", "ApproximateNumberOfMessagesToMove", "SourceArn",
                         "StartedTimestamp", "Status"}
    assert (task["ApproximateNumberOfMessagesMoved"], task["ApproximateNumberOfMessagesToMove"]) == (3, 3)
    assert task["SourceArn"] == dlq
    assert queue_depth(sqs, dlq_url) == 0
    moved = drain(sqs, source_url, expected=3)
    assert sorted(m["Body"] for m in moved) == ["order 0", "order 1", "order 2"]
    assert all(m["MessageAttributes"]["kind"]["StringValue"] == "order" for m in moved)


def test_a_redrive_to_a_named_destination(dead_lettered, aws, unique):
    sqs, _source_url, _source, _dlq_url, dlq = dead_lettered
    other_url = sqs.create_queue(QueueName=unique("move-other"))["QueueUrl"]
    sqs.start_message_move_task(SourceArn=dlq, DestinationArn=queue_arn(sqs, other_url))
    assert len(drain(sqs, other_url, expected=3)) == 3
    task = sqs.list_message_move_tasks(SourceArn=dlq)["Results"][0]
    assert task["DestinationArn"] == queue_arn(sqs, other_url)


def test_only_a_dead_letter_queue_can_be_redriven(aws, unique):
    sqs = aws("sqs")
    plain = queue_arn(sqs, sqs.create_queue(QueueName=unique("plain"))["QueueUrl"])
    with pytest.raises(ClientError) as refused:
        sqs.start_message_move_task(SourceArn=plain)
    assert _code(refused.value) == ("InvalidParameterValue", "Source queue must be configured as a Dead Letter Queue.", 400)


def test_missing_queues_and_bad_handles_are_refused_as_aws_refuses_them(dead_lettered):
    sqs, _source_url, _source, _dlq_url, dlq = dead_lettered
    missing = f"arn:aws:sqs:{REGION}:{ACCOUNT_A}:no-such-queue-here"
    with pytest.raises(ClientError) as refused:
        sqs.start_message_move_task(SourceArn=dlq, DestinationArn=missing)
    assert _code(refused.value) == (
        "ResourceNotFoundException", "The resource that you specified for the DestinationArn parameter doesn't exist.", 404)
    with pytest.raises(ClientError) as refused:
        sqs.start_message_move_task(SourceArn=missing)
    assert _code(refused.value)[0::2] == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as refused:
        sqs.cancel_message_move_task(TaskHandle="not-a-handle")
    assert _code(refused.value) == ("InvalidParameterValue", "Value for parameter TaskHandle is invalid.", 400)


def test_one_running_task_per_queue_and_a_cancelled_one_says_so(dead_lettered):
    sqs, _source_url, _source, _dlq_url, dlq = dead_lettered
    handle = sqs.start_message_move_task(SourceArn=dlq, MaxNumberOfMessagesPerSecond=1)["TaskHandle"]
    running = sqs.list_message_move_tasks(SourceArn=dlq)["Results"][0]
    assert (running["Status"], running["TaskHandle"], running["MaxNumberOfMessagesPerSecond"]) == ("RUNNING", handle, 1)
    with pytest.raises(ClientError) as refused:
        sqs.start_message_move_task(SourceArn=dlq)
    assert _code(refused.value) == ("InvalidParameterValue", "There is already a task running. Only one active task is "
                                    "allowed for a source queue arn at a given time.", 400)
    assert "ApproximateNumberOfMessagesMoved" in sqs.cancel_message_move_task(TaskHandle=handle)
    ended = wait_for(lambda: sqs.list_message_move_tasks(SourceArn=dlq)["Results"][0]["Status"] == "CANCELLED", 10)
    assert ended, sqs.list_message_move_tasks(SourceArn=dlq)
    time.sleep(1.2)  # a cancelled task moves nothing more
    moved = sqs.list_message_move_tasks(SourceArn=dlq)["Results"][0]["ApproximateNumberOfMessagesMoved"]
    assert moved < 3


def test_list_dead_letter_source_queues(dead_lettered):
    sqs, source_url, _source, dlq_url, _dlq = dead_lettered
    assert sqs.list_dead_letter_source_queues(QueueUrl=dlq_url)["queueUrls"] == [source_url]
