"""Pipe targets beyond the bus, Step Functions, Lambda and SQS, with their target parameters.

https://docs.aws.amazon.com/eventbridge/latest/pipes-reference/API_PipeTargetParameters.html
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-event-target.html
Partial batch failures: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-batching-concurrency.html
"""

from __future__ import annotations

import json
import time

from ..conftest import ACCOUNT_A, REGION, allow_service_to_send, drain, queue_depth, wait_for
from .conftest import sqs_source_grants
from .test_enrichment import rest_api_to


def _pipe(aws, unique, pipe_role, source_arn, target, grants, **parameters) -> str:
    role = pipe_role({**sqs_source_grants(source_arn), **grants})
    name = unique("tgt")
    aws("pipes").create_pipe(Name=name, RoleArn=role, Source=source_arn, Target=target, **parameters)
    return name


def test_sns_target_publishes_each_record(aws, unique, queue, pipe_role):
    sqs, sns = aws("sqs"), aws("sns")
    (source_url, source_arn), (seen_url, seen_arn) = queue("tgt-sns-src"), queue("tgt-sns-seen")
    topic = sns.create_topic(Name=unique("tgt-topic"))["TopicArn"]
    allow_service_to_send(sqs, seen_url, "sns.amazonaws.com", topic)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=seen_arn, Attributes={"RawMessageDelivery": "true"})
    _pipe(aws, unique, pipe_role, source_arn, topic, {"sns:Publish": topic},
          TargetParameters={"InputTemplate": '{"id": <$.body.id>}'})
    sqs.send_message(QueueUrl=source_url, MessageBody='{"id": 11}')
    assert [json.loads(m["Body"]) for m in drain(sqs, seen_url, expected=1, timeout=15)] == [{"id": 11}]


def test_kinesis_target_uses_the_partition_key_path(aws, unique, queue, pipe_role):
    sqs, kinesis = aws("sqs"), aws("kinesis")
    source_url, source_arn = queue("tgt-kin-src")
    stream = unique("tgt-stream")
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    stream_arn = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamARN"]
    _pipe(aws, unique, pipe_role, source_arn, stream_arn, {"kinesis:PutRecords": stream_arn},
          TargetParameters={"KinesisStreamParameters": {"PartitionKey": "$.body.customer"}})
    sqs.send_message(QueueUrl=source_url, MessageBody='{"customer": "c-42"}')
    shard = kinesis.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard,
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    records = wait_for(lambda: kinesis.get_records(ShardIterator=iterator)["Records"], timeout=15)
    assert [r["PartitionKey"] for r in records] == ["c-42"]
    assert json.loads(records[0]["Data"])["body"] == '{"customer": "c-42"}'


def test_firehose_target_delivers_to_the_stream_destination(aws, unique, queue, pipe_role):
    sqs, firehose, s3 = aws("sqs"), aws("firehose"), aws("s3")
    source_url, source_arn = queue("tgt-fh-src")
    bucket = unique("tgt-fh-bucket")
    s3.create_bucket(Bucket=bucket)
    stream_arn = firehose.create_delivery_stream(
        DeliveryStreamName=unique("tgt-fh"), DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={"BucketARN": f"arn:aws:s3:::{bucket}",
                                            "RoleARN": f"arn:aws:iam::{ACCOUNT_A}:role/fh",
                                            "BufferingHints": {"IntervalInSeconds": 60, "SizeInMBs": 1}},
    )["DeliveryStreamARN"]
    _pipe(aws, unique, pipe_role, source_arn, stream_arn, {"firehose:PutRecordBatch": stream_arn},
          TargetParameters={"InputTemplate": "<$.body>"})
    sqs.send_message(QueueUrl=source_url, MessageBody="to the firehose")
    # the stream's destination holds the record, as the pipe rendered it
    assert wait_for(lambda: _objects(s3, bucket), timeout=15) == [b"to the firehose"]
    assert queue_depth(sqs, source_url) == 0


def _objects(s3, bucket: str, prefix: str = "") -> list[bytes]:
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return [s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in sorted(listed, key=lambda o: o["Key"])]


def test_cloudwatch_logs_target_writes_to_the_named_stream(aws, unique, queue, pipe_role):
    sqs, logs = aws("sqs"), aws("logs")
    source_url, source_arn = queue("tgt-logs-src")
    group = f"/pipes/{unique('tgt')}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="transactions")
    group_arn = f"arn:aws:logs:{REGION}:{ACCOUNT_A}:log-group:{group}"
    _pipe(aws, unique, pipe_role, source_arn, group_arn, {"logs:PutLogEvents,logs:CreateLogStream": group_arn + ":*"},
          TargetParameters={"CloudWatchLogsParameters": {"LogStreamName": "transactions"},
                            "InputTemplate": "<$.body>"})
    sqs.send_message(QueueUrl=source_url, MessageBody="a log line")
    found = wait_for(lambda: logs.get_log_events(logGroupName=group, logStreamName="transactions")["events"],
                     timeout=15)
    assert [e["message"] for e in found] == ["a log line"]


def test_api_destination_target_with_http_parameters(aws, unique, queue, pipe_role, endpoint, api_destination):
    sqs = aws("sqs")
    source_url, source_arn = queue("tgt-api-src")
    server = endpoint(lambda request: (200, {"ok": True}))
    destination = api_destination(server.url + "/orders/*", "PUT")
    _pipe(aws, unique, pipe_role, source_arn, destination, {"events:InvokeApiDestination": destination},
          TargetParameters={"InputTemplate": '{"order": <$.body.order>}', "HttpParameters": {
              "PathParameterValues": ["$.body.order"], "HeaderParameters": {"x-source": "pipe"}}})
    sqs.send_message(QueueUrl=source_url, MessageBody='{"order": "o-7"}')
    assert wait_for(lambda: server.requests, timeout=15)
    request = server.requests[0]
    assert (request["method"], request["path"], request["headers"]["x-source"]) == ("PUT", "/orders/o-7", "pipe")
    assert json.loads(request["body"]) == {"order": "o-7"}
    assert wait_for(lambda: queue_depth(sqs, source_url) == 0, timeout=5)


def test_api_gateway_target_failure_keeps_the_record(aws, unique, queue, pipe_role, endpoint):
    sqs = aws("sqs")
    source_url, source_arn = queue("tgt-gw-src", VisibilityTimeout="1")
    answers = iter([(500, {"message": "down"})])
    server = endpoint(lambda request: next(answers, (200, {"ok": True})))
    api_arn, _ = rest_api_to(aws, server.url + "/")
    _pipe(aws, unique, pipe_role, source_arn, api_arn, {"execute-api:Invoke": api_arn})
    sqs.send_message(QueueUrl=source_url, MessageBody="retried after a 500")
    assert wait_for(lambda: len(server.requests) >= 2, timeout=20), "not retried"
    assert [json.loads(r["body"])["body"] for r in server.requests[:2]] == ["retried after a 500"] * 2
    assert wait_for(lambda: queue_depth(sqs, source_url) == 0, timeout=5)


def test_fifo_queue_target_message_group_and_dedup_ids(aws, unique, queue, pipe_role):
    sqs = aws("sqs")
    source_url, source_arn = queue("tgt-fifo-src")
    target_url, target_arn = queue("tgt-fifo-dst", FifoQueue="true")
    _pipe(aws, unique, pipe_role, source_arn, target_arn, {"sqs:SendMessage": target_arn},
          TargetParameters={"SqsQueueParameters": {"MessageGroupId": "$.body.account",
                                                   "MessageDeduplicationId": "$.messageId"}})
    sqs.send_message(QueueUrl=source_url, MessageBody='{"account": "acc-1"}')
    delivered = drain(sqs, target_url, expected=1, timeout=15)
    assert delivered[0]["Attributes"]["MessageGroupId"] == "acc-1"


PARTIAL = """
import json

def handler(event, context):
    print(json.dumps({"batch": [r["body"] for r in event]}))
    return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event if r["body"] == "bad"]}
"""


def test_lambda_target_batch_item_failures_delete_only_the_successes(aws, unique, queue, function, pipe_role):
    sqs = aws("sqs")
    dlq_url, dlq_arn = queue("tgt-part-dlq")
    source_url, source_arn = queue("tgt-part-src", VisibilityTimeout="1", RedrivePolicy=json.dumps(
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}))
    target = function(PARTIAL)
    _pipe(aws, unique, pipe_role, source_arn, target, {"lambda:InvokeFunction": target},
          SourceParameters={"SqsQueueParameters": {"BatchSize": 3, "MaximumBatchingWindowInSeconds": 1}})
    for body in ("good-1", "bad", "good-2"):
        sqs.send_message(QueueUrl=source_url, MessageBody=body)
    time.sleep(0.5)
    assert wait_for(lambda: queue_depth(sqs, dlq_url) == 1, timeout=20)
    assert [m["Body"] for m in drain(sqs, dlq_url, expected=1, timeout=5)] == ["bad"]
    assert queue_depth(sqs, source_url) == 0


def test_lambda_target_fire_and_forget(aws, unique, queue, function, pipe_role):
    sqs = aws("sqs")
    source_url, source_arn = queue("tgt-async-src")
    target = function("def handler(event, context):\n    raise RuntimeError('async failures are not retried by the pipe')\n")
    _pipe(aws, unique, pipe_role, source_arn, target, {"lambda:InvokeFunction": target},
          TargetParameters={"LambdaFunctionParameters": {"InvocationType": "FIRE_AND_FORGET"}})
    sqs.send_message(QueueUrl=source_url, MessageBody="accepted once queued")
    assert wait_for(lambda: queue_depth(sqs, source_url) == 0, timeout=15)


def test_bus_target_source_detail_type_and_resources(aws, unique, queue, pipe_role, observer):
    sqs, events = aws("sqs"), aws("events")
    source_url, source_arn = queue("tgt-bus-src")
    bus = unique("tgt-bus")
    bus_arn = events.create_event_bus(Name=bus)["EventBusArn"]
    seen = observer(bus, pattern={"source": ["orders.pipe"]})
    _pipe(aws, unique, pipe_role, source_arn, bus_arn, {"events:PutEvents": bus_arn},
          TargetParameters={"EventBridgeEventBusParameters": {
              "Source": "orders.pipe", "DetailType": "$.body.kind", "Resources": ["arn:aws:s3:::orders"]}})
    sqs.send_message(QueueUrl=source_url, MessageBody='{"kind": "OrderPlaced"}')
    event = json.loads(drain(sqs, seen, expected=1, timeout=15)[0]["Body"])
    assert (event["detail-type"], event["resources"]) == ("OrderPlaced", ["arn:aws:s3:::orders"])
