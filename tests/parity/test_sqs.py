"""SQS answers as AWS gives them, for what our stacks and typical changes to them use.

Sources: the SQS API reference (cited per test) and LocalStack's tests recorded against
AWS, tests/aws/services/sqs/test_sqs.py and its test_sqs.snapshot.json ("LS:" below).
"""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError


def fifo_queue(aws, unique, label: str, **attributes) -> str:
    return aws("sqs").create_queue(QueueName=unique(label) + ".fifo", Attributes={
        "FifoQueue": "true", "ContentBasedDeduplication": "true", **attributes})["QueueUrl"]


def error_of(call, **kwargs) -> dict:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    return raised.value.response["Error"]


def test_a_deleted_receipt_handle_can_be_deleted_again(aws, unique):
    # LS: test_delete_message_with_deleted_receipt_handle ("does not raise errors even after successive calls")
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName=unique("deleted-handle"))["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="foo")
    handle = sqs.receive_message(QueueUrl=url)["Messages"][0]["ReceiptHandle"]
    for _ in range(3):
        sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)


def test_an_expired_receipt_handle_still_deletes_on_a_standard_queue(aws, unique):
    # LS: test_delete_after_visibility_timeout, test_remove_message_with_old_receipt_handle
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName=unique("expired-handle"), Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="foobar")
    handle = sqs.receive_message(QueueUrl=url)["Messages"][0]["ReceiptHandle"]
    time.sleep(1.2)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
    assert "Messages" not in sqs.receive_message(QueueUrl=url)


def test_an_old_handle_of_a_message_received_again_is_accepted_and_leaves_it_queued(aws, unique):
    # https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_DeleteMessage.html:
    # "If you use an old ReceiptHandle, the request will succeed, but the message might not be
    # deleted." Locally it is not: a late delete's message comes back, as it may on AWS.
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName=unique("old-handle"))["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="twice")
    first = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)["Messages"][0]["ReceiptHandle"]
    second = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)["Messages"][0]["ReceiptHandle"]
    assert first != second
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first)
    again = sqs.receive_message(QueueUrl=url)["Messages"]
    assert [m["Body"] for m in again] == ["twice"]


def test_a_string_that_is_no_receipt_handle_is_refused(aws, unique):
    # LS: test_delete_message_with_illegal_receipt_handle
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName=unique("garbage-handle"))["QueueUrl"]
    error = error_of(sqs.delete_message, QueueUrl=url, ReceiptHandle="garbage")
    assert (error["Code"], error["Message"]) == (
        "ReceiptHandleIsInvalid", 'The input receipt handle "garbage" is not a valid receipt handle.')


def test_changing_the_visibility_of_a_deleted_message_is_an_invalid_parameter(aws, unique):
    # LS: test_change_visibility_on_deleted_message_raises_invalid_parameter_value
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName=unique("visibility-deleted"))["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="foo")
    handle = sqs.receive_message(QueueUrl=url)["Messages"][0]["ReceiptHandle"]
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=42)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
    error = error_of(sqs.change_message_visibility, QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=42)
    assert (error["Code"], error["Message"]) == (
        "InvalidParameterValue", f"Value {handle} for parameter ReceiptHandle is invalid. Reason: Message does not "
        "exist or is not available for visibility timeout change.")


def test_a_fifo_queue_refuses_an_expired_receipt_handle(aws, unique):
    # LS: test_fifo_delete_after_visibility_timeout (snapshot delete_after_timeout_fifo)
    sqs = aws("sqs")
    url = fifo_queue(aws, unique, "fifo-expired", VisibilityTimeout="1")
    sqs.send_message(QueueUrl=url, MessageBody="foobar", MessageGroupId="1")
    handle = sqs.receive_message(QueueUrl=url)["Messages"][0]["ReceiptHandle"]
    time.sleep(1.2)
    error = error_of(sqs.delete_message, QueueUrl=url, ReceiptHandle=handle)
    assert (error["Code"], error["Message"]) == (
        "InvalidParameterValue", f"Value {handle} for parameter ReceiptHandle is invalid. Reason: The receipt handle "
        "has expired.")


def test_a_fifo_receive_returns_a_message_group_together_in_order(aws, unique):
    # LS: test_fifo_receive_message_group_id_ordering
    sqs = aws("sqs")
    url = fifo_queue(aws, unique, "fifo-order")
    for body, group in (("g1-m1", "group-1"), ("g2-m1", "group-2"), ("g1-m2", "group-1"), ("g1-m3", "group-1")):
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group)
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in received] == ["g1-m1", "g1-m2", "g1-m3", "g2-m1"]


def test_a_message_group_with_a_message_in_flight_stays_closed(aws, unique):
    # LS: test_fifo_receive_message_visibility_timeout_shared_in_group
    sqs = aws("sqs")
    url = fifo_queue(aws, unique, "fifo-closed")
    for body, group in (("g1-m1", "1"), ("g1-m2", "1"), ("g1-m3", "1"), ("g2-m1", "2")):
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group)
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2)["Messages"]] == [
        "g1-m1", "g1-m2"]
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]] == ["g2-m1"]


def test_content_based_deduplication_true_in_any_case_is_on(aws, unique):
    # LS: test_fifo_approximate_number_of_messages_not_visible creates {"FifoQueue": "True",
    # "ContentBasedDeduplication": "True"} and sends without a deduplication id; the attribute
    # reads back "true" (test_fifo_set_content_based_deduplication_strategy).
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName=unique("cbd") + ".fifo", Attributes={
        "FifoQueue": "True", "ContentBasedDeduplication": "True"})["QueueUrl"]
    first = sqs.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="g")["MessageId"]
    again = sqs.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="g")["MessageId"]
    assert first == again
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (attributes["FifoQueue"], attributes["ContentBasedDeduplication"]) == ("true", "true")


def test_wait_time_seconds_over_twenty_is_refused(aws, unique):
    # LS: test_send_receive_wait_time_seconds (snapshot recieve_message_error_too_large)
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName=unique("wait"))["QueueUrl"]
    error = error_of(sqs.receive_message, QueueUrl=url, WaitTimeSeconds=21)
    assert (error["Code"], error["Message"]) == (
        "InvalidParameterValue", "Value 21 for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, "
        "if provided.")


def test_a_second_purge_within_a_minute_is_refused(aws, unique):
    # LS: test_successive_purge_calls_fail (snapshot purge_queue_error: 403)
    sqs = aws("sqs")
    name = unique("purge")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    sqs.purge_queue(QueueUrl=url)
    with pytest.raises(ClientError) as raised:
        sqs.purge_queue(QueueUrl=url)
    response = raised.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert (response["Error"]["Code"], response["Error"]["Message"]) == (
        "AWS.SimpleQueueService.PurgeQueueInProgress", f"Only one PurgeQueue operation on {name} is allowed every "
        "60 seconds.")


def test_a_queue_name_cannot_be_reused_within_a_minute_of_its_deletion(aws, unique):
    # LS: test_create_queue_recently_deleted (AWS-validated); API_DeleteQueue.html: "you must wait at
    # least 60 seconds before creating a queue with the same name"
    sqs = aws("sqs")
    name = unique("reused")
    sqs.delete_queue(QueueUrl=sqs.create_queue(QueueName=name)["QueueUrl"])
    error = error_of(sqs.create_queue, QueueName=name)
    assert (error["Code"], error["Message"]) == (
        "AWS.SimpleQueueService.QueueDeletedRecently", "You must wait 60 seconds after deleting a queue before you "
        "can create another with the same name.")


def test_message_attributes_count_towards_the_maximum_message_size(aws, unique):
    # LS: test_send_message_with_updated_maximum_message_size; the size includes attributes:
    # https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-message-metadata.html
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName=unique("size"), Attributes={"MaximumMessageSize": "1024"})["QueueUrl"]
    attribute = {"note": {"DataType": "String", "StringValue": "y" * 30}}
    sqs.send_message(QueueUrl=url, MessageBody="x" * 1024)
    error = error_of(sqs.send_message, QueueUrl=url, MessageBody="x" * 1000, MessageAttributes=attribute)
    assert (error["Code"], error["Message"]) == (
        "InvalidParameterValue", "One or more parameters are invalid. Reason: Message must be shorter than 1024 bytes.")


def test_an_oversized_batch_entry_fails_alone_with_awss_batch_wording(aws, unique):
    # LS: test_send_batch_message_size (snapshot send-message-batch-result)
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName=unique("batch-size"), Attributes={"MaximumMessageSize": "1024"})["QueueUrl"]
    result = sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": "big", "MessageBody": "x" * 1025}, {"Id": "small", "MessageBody": "ok"}])
    assert [s["Id"] for s in result["Successful"]] == ["small"]
    assert result["Failed"] == [{"Id": "big", "SenderFault": True, "Code": "InvalidParameterValue",
                                 "Message": "One or more parameters cannot be validated. Reason: Message must be "
                                            "shorter than 1024 bytes."}]


def test_maximum_message_size_is_settable_up_to_one_mebibyte_and_defaults_to_it(aws, unique):
    # API_SetQueueAttributes.html (2026): "An integer from 1,024 bytes (1 KiB) up to 1,048,576 bytes
    # (1 MiB). Default: 1,048,576 bytes (1 MiB)."; LS snapshot test_fifo_set_content_based_deduplication_strategy
    # (recorded 2025-08) reads MaximumMessageSize "1048576" on a new queue.
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName=unique("max-size"))["QueueUrl"]
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["MaximumMessageSize"])["Attributes"] == {
        "MaximumMessageSize": "1048576"}
    sqs.send_message(QueueUrl=url, MessageBody="x" * 1_048_576)
    error = error_of(sqs.send_message, QueueUrl=url, MessageBody="x" * 1_048_577)
    assert error["Code"] == "InvalidParameterValue"
    error = error_of(sqs.set_queue_attributes, QueueUrl=url, Attributes={"MaximumMessageSize": "1048577"})
    assert error["Code"] == "InvalidAttributeValue"
