"""DynamoDB streams and Kinesis streams as pipe sources.

https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-dynamodb.html
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-kinesis.html (record
shape, starting position, "Reporting batch item failures", AUTOMATIC_BISECT)
https://docs.aws.amazon.com/eventbridge/latest/pipes-reference/API_PipeSourceKinesisStreamParameters.html
(MaximumRetryAttempts, MaximumRecordAgeInSeconds, DeadLetterConfig)
"""

from __future__ import annotations

import base64
import json
import time

from ..conftest import allow_service_to_send, drain, wait_for
from .conftest import wait_state


def _ddb_stream(aws, unique) -> tuple[str, str]:
    dynamodb = aws("dynamodb")
    table = unique("pipe-table")
    described = dynamodb.create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    return table, described["TableDescription"]["LatestStreamArn"]


def test_dynamodb_stream_records_reach_the_target_in_order(aws, unique, queue, pipe_role):
    dynamodb, sqs, pipes = aws("dynamodb"), aws("sqs"), aws("pipes")
    table, stream_arn = _ddb_stream(aws, unique)
    dynamodb.put_item(TableName=table, Item={"id": {"S": "before-the-pipe"}})  # TRIM_HORIZON reads it too
    target_url, target_arn = queue("ddb-dst")
    role = pipe_role({"dynamodb:DescribeStream,dynamodb:GetRecords,dynamodb:GetShardIterator,dynamodb:ListStreams":
                      stream_arn, "sqs:SendMessage": target_arn})
    name = unique("ddb-pipe")
    pipes.create_pipe(Name=name, RoleArn=role, Source=stream_arn, Target=target_arn, SourceParameters={
        "DynamoDBStreamParameters": {"StartingPosition": "TRIM_HORIZON", "BatchSize": 10},
        "FilterCriteria": {"Filters": [{"Pattern": json.dumps({"eventName": ["INSERT", "MODIFY"]})}]}})
    assert wait_state(pipes, name, "RUNNING")["CurrentState"] == "RUNNING"
    dynamodb.put_item(TableName=table, Item={"id": {"S": "after"}, "n": {"N": "1"}})
    dynamodb.delete_item(TableName=table, Key={"id": {"S": "after"}})  # REMOVE: filtered out
    records = [json.loads(m["Body"]) for m in drain(sqs, target_url, expected=2, timeout=15, quiet=1)]
    assert [(r["eventName"], r["dynamodb"]["Keys"]["id"]["S"]) for r in records] == [
        ("INSERT", "before-the-pipe"), ("INSERT", "after")]
    assert {(r["eventSource"], r["eventSourceARN"]) for r in records} == {("aws:dynamodb", stream_arn)}
    # epoch seconds, as MaximumRecordAgeInSeconds measures them (test_stream_record_age.py)
    assert abs(records[-1]["dynamodb"]["ApproximateCreationDateTime"] - time.time()) < 60


def _kinesis_stream(aws, unique) -> tuple[str, str]:
    kinesis = aws("kinesis")
    name = unique("pipe-kin")
    kinesis.create_stream(StreamName=name, ShardCount=1)
    return name, kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]


def _kinesis_grants(stream_arn: str) -> dict:
    return {"kinesis:DescribeStream,kinesis:DescribeStreamSummary,kinesis:GetRecords,kinesis:GetShardIterator,"
            "kinesis:ListShards,kinesis:ListStreams,kinesis:SubscribeToShard": stream_arn}


def test_kinesis_latest_position_and_decoded_data_filtering(aws, unique, queue, pipe_role):
    kinesis, sqs, pipes = aws("kinesis"), aws("sqs"), aws("pipes")
    stream, stream_arn = _kinesis_stream(aws, unique)
    kinesis.put_record(StreamName=stream, Data=b'{"city": "Seattle", "when": "before"}', PartitionKey="p")
    target_url, target_arn = queue("kin-dst")
    role = pipe_role({**_kinesis_grants(stream_arn), "sqs:SendMessage": target_arn})
    name = unique("kin-pipe")
    pipes.create_pipe(Name=name, RoleArn=role, Source=stream_arn, Target=target_arn, SourceParameters={
        "KinesisStreamParameters": {"StartingPosition": "LATEST", "BatchSize": 5},
        "FilterCriteria": {"Filters": [{"Pattern": json.dumps({"data": {"city": ["Seattle"]}})}]}})
    assert wait_state(pipes, name, "RUNNING")["CurrentState"] == "RUNNING"
    for city in ("Seattle", "Paris"):
        kinesis.put_record(StreamName=stream, Data=json.dumps({"city": city, "when": "after"}).encode(),
                           PartitionKey=city)
    records = [json.loads(m["Body"]) for m in drain(sqs, target_url, expected=1, timeout=15, quiet=1)]
    assert len(records) == 1
    record = records[0]
    assert json.loads(base64.b64decode(record["data"])) == {"city": "Seattle", "when": "after"}
    assert (record["eventSource"], record["partitionKey"], record["eventSourceARN"]) == (
        "aws:kinesis", "Seattle", stream_arn)
    assert record["eventID"] == f"shardId-000000000000:{record['sequenceNumber']}"
    # epoch seconds ("approximateArrivalTimestamp": 1545084650.987 in the page's sample event)
    assert abs(record["approximateArrivalTimestamp"] - time.time()) < 60


POISON = """
import base64, json

def handler(event, context):
    bodies = [json.loads(base64.b64decode(r["data"])) for r in event]
    print(json.dumps({"delivered": bodies}))
    if "poison" in bodies:
        raise ValueError("poison in the batch")
"""


def _delivered(aws, function_arn: str) -> list:
    logs = aws("logs")
    try:
        events = logs.filter_log_events(logGroupName=f"/aws/lambda/{function_arn.split(':')[-1]}")["events"]
    except logs.exceptions.ResourceNotFoundException:
        return []
    return [json.loads(e["message"])["delivered"] for e in events if e["message"].startswith('{"delivered"')]


def test_kinesis_bisects_retries_and_dead_letters_what_keeps_failing(aws, unique, queue, function, pipe_role):
    kinesis, sqs, pipes = aws("kinesis"), aws("sqs"), aws("pipes")
    stream, stream_arn = _kinesis_stream(aws, unique)
    dlq_url, dlq_arn = queue("kin-dlq")
    target = function(POISON)
    role = pipe_role({**_kinesis_grants(stream_arn), "lambda:InvokeFunction": target, "sqs:SendMessage": dlq_arn})
    name = unique("kin-bisect")
    pipes.create_pipe(Name=name, RoleArn=role, Source=stream_arn, Target=target, SourceParameters={
        "KinesisStreamParameters": {"StartingPosition": "TRIM_HORIZON", "BatchSize": 4,
                                    "MaximumBatchingWindowInSeconds": 1, "MaximumRetryAttempts": 1,
                                    "OnPartialBatchItemFailure": "AUTOMATIC_BISECT",
                                    "DeadLetterConfig": {"Arn": dlq_arn}}})
    for body in ("a", "b", "poison", "c"):
        kinesis.put_record(StreamName=stream, Data=json.dumps(body).encode(), PartitionKey="one-shard")
    dead = drain(sqs, dlq_url, expected=1, timeout=30)
    assert len(dead) == 1
    info = json.loads(dead[0]["Body"])
    assert info["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert info["KinesisBatchInfo"]["batchSize"] == 1 and info["KinesisBatchInfo"]["streamArn"] == stream_arn
    delivered = [b for batch in _delivered(aws, target) for b in batch]
    # the halves without the poison record got through; the poison one was given up on
    assert {"a", "b", "c"} <= set(delivered)
    assert _delivered(aws, target)[0] == ["a", "b", "poison", "c"]
    kinesis.put_record(StreamName=stream, Data=b'"after"', PartitionKey="one-shard")
    assert wait_for(lambda: ["after"] in _delivered(aws, target), timeout=15), "the shard did not move on"


def test_kinesis_at_timestamp_starts_at_the_first_record_after_the_time(aws, unique, queue, pipe_role):
    """StartingPosition AT_TIMESTAMP with StartingPositionTimestamp: "Start reading the stream
    from a specified time" (eb-pipes-kinesis.html)."""
    kinesis, sqs, pipes = aws("kinesis"), aws("sqs"), aws("pipes")
    stream, stream_arn = _kinesis_stream(aws, unique)
    kinesis.put_record(StreamName=stream, Data=b'"before the time"', PartitionKey="p")
    time.sleep(0.3)
    start = time.time()
    time.sleep(0.3)  # records arrive after the time, with room for the clocks' resolution
    kinesis.put_record(StreamName=stream, Data=b'"after the time"', PartitionKey="p")
    target_url, target_arn = queue("kin-ts-dst")
    pipes.create_pipe(Name=unique("kin-ts"), RoleArn=pipe_role({**_kinesis_grants(stream_arn),
                                                                 "sqs:SendMessage": target_arn}),
                      Source=stream_arn, Target=target_arn, SourceParameters={"KinesisStreamParameters": {
                          "StartingPosition": "AT_TIMESTAMP", "StartingPositionTimestamp": start}})
    records = [json.loads(m["Body"]) for m in drain(sqs, target_url, expected=1, timeout=15, quiet=1)]
    assert [json.loads(base64.b64decode(r["data"])) for r in records] == ["after the time"]


ALWAYS_FAILS = "def handler(event, context):\n    raise RuntimeError('the target keeps failing')\n"


def test_dynamodb_stream_dead_letters_to_an_sns_topic(aws, unique, queue, function, pipe_role):
    """"DynamoDB and Kinesis stream sources support Amazon SQS queues and Amazon SNS topics as
    DLQ targets"; MaximumRetryAttempts 0: the first failure gives the batch up
    (eb-pipes-error-troubleshooting.html, "Pipe DLQ behavior")."""
    dynamodb, sqs, sns, pipes = aws("dynamodb"), aws("sqs"), aws("sns"), aws("pipes")
    table, stream_arn = _ddb_stream(aws, unique)
    topic = sns.create_topic(Name=unique("ddb-dlq"))["TopicArn"]
    seen_url, seen_arn = queue("ddb-dlq-seen")
    allow_service_to_send(sqs, seen_url, "sns.amazonaws.com", topic)  # SNS may deliver to the queue
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=seen_arn, Attributes={"RawMessageDelivery": "true"})
    target = function(ALWAYS_FAILS)
    role = pipe_role({"dynamodb:DescribeStream,dynamodb:GetRecords,dynamodb:GetShardIterator,dynamodb:ListStreams":
                      stream_arn, "lambda:InvokeFunction": target, "sns:Publish": topic})
    name = unique("ddb-sns-dlq")
    pipes.create_pipe(Name=name, RoleArn=role, Source=stream_arn, Target=target, SourceParameters={
        "DynamoDBStreamParameters": {"StartingPosition": "TRIM_HORIZON", "MaximumRetryAttempts": 0,
                                     "DeadLetterConfig": {"Arn": topic}}})
    assert wait_state(pipes, name, "RUNNING")["CurrentState"] == "RUNNING"
    dynamodb.put_item(TableName=table, Item={"id": {"S": "given-up-on"}})
    dead = drain(sqs, seen_url, expected=1, timeout=20)
    assert len(dead) == 1, "nothing reached the topic"
    described = json.loads(dead[0]["Body"])
    assert described["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert described["requestContext"]["pipeArn"].endswith(f":pipe/{name}")
    assert (described["DDBStreamBatchInfo"]["streamArn"], described["DDBStreamBatchInfo"]["batchSize"]) == (
        stream_arn, 1)
