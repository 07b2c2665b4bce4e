"""Pipe logs delivered to Firehose and to S3, the two destinations besides CloudWatch Logs,
and records cut to 256 KB.

https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-logs.html: "Firehose
stream logs: EventBridge delivers log records to a Firehose delivery stream"; "Amazon S3
logs: EventBridge delivers log records as Amazon S3 objects to the specified bucket"; one
record per execution step at or above the level. Records as in
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-logs-schema.html; S3
OutputFormat: "EventBridge currently only supports json formatting"
(https://docs.aws.amazon.com/eventbridge/latest/pipes-reference/API_S3LogDestinationParameters.html).
The execution role writes them: firehose:PutRecordBatch, s3:PutObject (eb-pipes-logs.html).
Truncation: eb-pipes-logs.html, "Truncating execution data in EventBridge Pipes log records".
"""

from __future__ import annotations

import json

from ..conftest import ACCOUNT_A, REGION, drain, wait_for
from .conftest import sqs_source_grants

INFO_STEPS = ["ExecutionStarted", "TargetStageEntered", "TargetStageSucceeded", "ExecutionSucceeded"]


def _records(s3, bucket: str, prefix: str = "") -> list[dict]:
    """Every log record in the bucket's objects (JSON, one record a line), by object key
    and line."""
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return [json.loads(line) for o in sorted(listed, key=lambda o: o["Key"])
            for line in s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read().decode().splitlines()
            if line.strip()]


def _pipe_with_logs(aws, unique, queue, pipe_role, grants: dict, destination: dict) -> tuple[str, str]:
    """A queue-to-queue pipe logging at INFO with execution data; (source URL, pipe ARN)."""
    (source_url, source_arn), (_target_url, target_arn) = queue("logdst-src"), queue("logdst-dst")
    role = pipe_role({**sqs_source_grants(source_arn), "sqs:SendMessage": target_arn, **grants})
    arn = aws("pipes").create_pipe(Name=unique("logdst"), RoleArn=role, Source=source_arn, Target=target_arn,
                                   LogConfiguration={"Level": "INFO", "IncludeExecutionData": ["ALL"],
                                                     **destination})["Arn"]
    return source_url, arn


def _assert_one_execution(records: list[dict], pipe_arn: str, body: str) -> None:
    assert sorted(r["messageType"] for r in records) == sorted(INFO_STEPS)
    assert {r["resourceArn"] for r in records} == {pipe_arn}
    assert len({r["executionId"] for r in records}) == 1
    assert {r["logLevel"] for r in records} == {"INFO"}
    [started] = [r for r in records if r["messageType"] == "ExecutionStarted"]
    assert [e["body"] for e in json.loads(started["payload"])] == [body]


def test_logs_to_a_firehose_stream_reach_its_destination(aws, unique, queue, pipe_role):
    sqs, s3, firehose = aws("sqs"), aws("s3"), aws("firehose")
    bucket = unique("logdst-fh")
    s3.create_bucket(Bucket=bucket)
    stream_arn = firehose.create_delivery_stream(
        DeliveryStreamName=unique("logdst-fh"), DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={"BucketARN": f"arn:aws:s3:::{bucket}",
                                            "RoleARN": f"arn:aws:iam::{ACCOUNT_A}:role/fh"})["DeliveryStreamARN"]
    source_url, pipe_arn = _pipe_with_logs(aws, unique, queue, pipe_role, {"firehose:PutRecordBatch": stream_arn},
                                           {"FirehoseLogDestination": {"DeliveryStreamArn": stream_arn}})
    sqs.send_message(QueueUrl=source_url, MessageBody="logged through firehose")
    records = wait_for(lambda: (found := _records(s3, bucket)) and len(found) >= len(INFO_STEPS) and found,
                       timeout=15)
    assert records, "no log record reached the delivery stream's bucket"
    # (the local Firehose writes each record as an object of its own, so their order is by key)
    _assert_one_execution(records, pipe_arn, "logged through firehose")


def test_logs_to_s3_are_objects_under_the_prefix(aws, unique, queue, pipe_role):
    sqs, s3 = aws("sqs"), aws("s3")
    bucket = unique("logdst-s3")
    s3.create_bucket(Bucket=bucket)
    source_url, pipe_arn = _pipe_with_logs(
        aws, unique, queue, pipe_role, {"s3:PutObject": f"arn:aws:s3:::{bucket}/pipe-logs/*"},
        {"S3LogDestination": {"BucketName": bucket, "BucketOwner": ACCOUNT_A, "Prefix": "pipe-logs/",
                              "OutputFormat": "json"}})
    sqs.send_message(QueueUrl=source_url, MessageBody="logged to s3")
    records = wait_for(lambda: (found := _records(s3, bucket)) and len(found) >= len(INFO_STEPS) and found,
                       timeout=15)
    assert records, "no log object in the bucket"
    assert _records(s3, bucket, prefix="pipe-logs/") == records  # every object under the prefix
    _assert_one_execution(records, pipe_arn, "logged to s3")
    assert [r["messageType"] for r in records] == INFO_STEPS  # one object per execution, steps in order


ECHO = "def handler(event, context):\n    return event\n"
LIMIT = 256 * 1024


def test_records_over_256_kb_have_their_execution_data_cut_and_named(aws, unique, queue, function, pipe_role):
    """"If a Amazon CloudWatch Logs destination is configured, the log records delivered to
    all destinations have a limit of 256kb"; EventBridge "truncates the execution data
    fields, in the following order [payload, awsRequest, awsResponse] ... each field
    entirely before progressing to truncate the next field ... by removing characters from
    the end", and "the truncatedFields field includes a list of the truncated data fields"."""
    sqs, s3, logs = aws("sqs"), aws("s3"), aws("logs")
    large = {"MaximumMessageSize": str(1024 * 1024)}
    (source_url, source_arn), (target_url, target_arn) = queue("logcut-src", **large), queue("logcut-dst", **large)
    echo = function(ECHO)
    group, bucket = f"/aws/vendedlogs/pipes/{unique('logcut')}", unique("logcut")
    logs.create_log_group(logGroupName=group)
    s3.create_bucket(Bucket=bucket)
    group_arn = f"arn:aws:logs:{REGION}:{ACCOUNT_A}:log-group:{group}"
    role = pipe_role({**sqs_source_grants(source_arn), "lambda:InvokeFunction": echo, "sqs:SendMessage": target_arn,
                      "logs:CreateLogStream,logs:PutLogEvents": group_arn + ":*",
                      "s3:PutObject": f"arn:aws:s3:::{bucket}/*"})
    pipe_arn = aws("pipes").create_pipe(
        Name=unique("logcut"), RoleArn=role, Source=source_arn, Target=target_arn, Enrichment=echo,
        LogConfiguration={"Level": "TRACE", "IncludeExecutionData": ["ALL"],
                          "CloudwatchLogsLogDestination": {"LogGroupArn": group_arn},
                          "S3LogDestination": {"BucketName": bucket, "BucketOwner": ACCOUNT_A}})["Arn"]
    body = "x" * 300_000
    sqs.send_message(QueueUrl=source_url, MessageBody=body)
    assert [len(json.loads(m["Body"])["body"]) for m in drain(sqs, target_url, expected=1, timeout=20)] == [300_000]

    def written():
        try:
            # every page: a response holds at most 1 MB of events (AWS), a handful of these records
            events = [e for page in logs.get_paginator("filter_log_events").paginate(logGroupName=group)
                      for e in page["events"]]
        except logs.exceptions.ResourceNotFoundException:
            return []
        return [e["message"] for e in events if json.loads(e["message"]).get("resourceArn") == pipe_arn]

    messages = wait_for(lambda: (found := written()) and '"ExecutionSucceeded"' in found[-1] and found, timeout=20)
    assert messages, "the execution was not logged"
    assert max(len(m.encode()) for m in messages) <= LIMIT
    by_step = {r["messageType"]: r for r in map(json.loads, messages)}

    started = by_step["ExecutionStarted"]  # the 300 KB batch: payload cut to fill the record
    assert started["truncatedFields"] == ["payload"]
    assert started["payload"].startswith('[{"messageId":') and started["payload"].endswith("x")
    assert len(json.dumps(started, ensure_ascii=False).encode()) > LIMIT - 16
    # the enrichment's request and its echo, both over 256 KB: the request emptied, then the response cut
    invoked = by_step["EnrichmentInvocationSucceeded"]
    assert invoked["truncatedFields"] == ["awsRequest", "awsResponse"]
    assert invoked["awsRequest"] == "" and invoked["awsResponse"].startswith('[{"messageId":')
    delivered = by_step["TargetInvocationSucceeded"]  # a large request, a small response
    assert delivered["truncatedFields"] == ["awsRequest"] and json.loads(delivered["awsResponse"])
    assert "truncatedFields" not in by_step["ExecutionSucceeded"]
    # the same records, cut the same way, reach the other destination
    assert {r["messageType"]: r for r in _records(s3, bucket)} == by_step
