"""MaximumRecordAgeInSeconds for stream sources: "Discard records older than the specified
age. The default value is -1, which sets the maximum age to infinite"; MaximumRetryAttempts
-1 "retries failed records until the record expires in the event source".
https://docs.aws.amazon.com/eventbridge/latest/pipes-reference/API_PipeSourceKinesisStreamParameters.html
https://docs.aws.amazon.com/eventbridge/latest/pipes-reference/API_PipeSourceDynamoDBStreamParameters.html
"MaximumRecordAgeInSeconds controls when the pipe poller will give up on the event and deliver
it to the DLQ" (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-error-troubleshooting.html,
"Pipe DLQ behavior"); the description of what was given up on is Lambda's documented one.

A record must be older than the limit, and AWS's smallest limit is a minute (the console's
"Maximum age of event" starts at 00:01; CDK's pipes-sources-alpha refuses less than 60 s),
so these tests run the shard processor in-process with records whose arrival times lie in
the past, and a clock they move, rather than wait a minute per test against the server.
The arrival times' unit (epoch seconds) as the server delivers them is pinned in
test_stream_sources.py.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from localcloud import auth, seams
from localcloud.services.pipes import store
from localcloud.services.pipes.sources import streams

STREAM = "arn:aws:kinesis:us-east-1:222222222222:stream/orders"
DLQ = "arn:aws:sqs:us-east-1:222222222222:orders-dlq"
SHARD = "shardId-000000000000"
KEY = ("222222222222", "us-east-1", "orders-pipe")


def _definition(**parameters) -> dict:
    return {"Name": KEY[2], "Arn": f"arn:aws:pipes:us-east-1:222222222222:pipe/{KEY[2]}",
            "RoleArn": "arn:aws:iam::222222222222:role/pipe", "Source": STREAM,
            "Target": "arn:aws:lambda:us-east-1:222222222222:function:orders",
            "SourceParameters": {"KinesisStreamParameters": {"StartingPosition": "TRIM_HORIZON",
                                                             "DeadLetterConfig": {"Arn": DLQ}, **parameters}}}


def _record(sequence: str, arrived: float) -> dict:
    return {"kinesisSchemaVersion": "1.0", "partitionKey": "p", "sequenceNumber": sequence, "data": "e30=",
            "approximateArrivalTimestamp": arrived, "eventSource": "aws:kinesis",
            "eventID": f"{SHARD}:{sequence}", "eventSourceARN": STREAM}


@pytest.fixture
def shard(monkeypatch):
    """The processor's surroundings, recorded: batches executed, dead-letter messages sent,
    checkpoints taken; ``shard.fail`` makes every execution fail; ``shard.clock`` is now;
    ``shard.stop`` ends the processing after 10 attempts (a runaway retry loop)."""

    class Shard:
        executed: list[list[dict]] = []
        dead_letters: list[dict] = []
        checkpoints: list[str] = []
        fail = False
        clock = [time.time()]
        stop = threading.Event()

    def execute(definition, records):
        Shard.executed.append([r["sequenceNumber"] for r in records])
        if len(Shard.executed) >= 10:
            Shard.stop.set()
        Shard.clock[0] += 30  # every attempt takes half a minute
        return list(records) if Shard.fail else []

    def send(service, action, account, region, payload, principal=""):
        assert (service, action, principal) == ("sqs", "SendMessage", _definition()["RoleArn"])  # as the pipe's role
        Shard.dead_letters.append(json.loads(payload["MessageBody"]))
        return 200, {}

    monkeypatch.setattr(auth, "require", lambda *args, **kwargs: None)
    monkeypatch.setattr(streams, "execute", execute)
    monkeypatch.setattr(streams, "_clock", lambda: Shard.clock[0])
    monkeypatch.setattr(seams, "call_json_api_sync", send)
    monkeypatch.setattr(seams.sqs, "queue_url_for_arn", lambda arn: "http://127.0.0.1/queue/orders-dlq")
    monkeypatch.setattr(store, "set_checkpoint", lambda key, shard_id, sequence: Shard.checkpoints.append(sequence))
    return Shard


def test_records_older_than_the_limit_are_dead_lettered_and_the_rest_delivered(shard):
    now = shard.clock[0]
    batch = [_record("1", now - 300), _record("2", now - 61), _record("3", now - 5), _record("4", now)]
    streams._process(KEY, _definition(MaximumRecordAgeInSeconds=60), SHARD, batch, shard.stop)
    assert shard.executed == [["3", "4"]]  # the expired records never reach the target
    [dead] = shard.dead_letters
    assert dead["requestContext"]["condition"] == "RecordAgeExceeded"
    assert dead["requestContext"]["approximateInvokeCount"] == 0
    info = dead["KinesisBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == ("1", "2", 2)
    assert info["streamArn"] == STREAM and info["shardId"] == SHARD
    assert shard.checkpoints[-1] == "4"  # the shard moved past all four


def test_a_failing_batch_is_retried_until_its_records_expire(shard):
    """MaximumRetryAttempts -1 (the default): retried until the record is too old."""
    shard.fail = True
    batch = [_record("7", shard.clock[0]), _record("8", shard.clock[0])]
    streams._process(KEY, _definition(MaximumRecordAgeInSeconds=60), SHARD, batch, shard.stop)
    # attempted at ages 0, 30 and 60 s (not older than 60 s); at 90 s given up on
    assert shard.executed == [["7", "8"]] * 3
    [dead] = shard.dead_letters
    assert dead["requestContext"]["condition"] == "RecordAgeExceeded"
    assert dead["requestContext"]["approximateInvokeCount"] == 3
    assert dead["KinesisBatchInfo"]["batchSize"] == 2
    assert shard.checkpoints[-1] == "8"


def test_without_a_limit_old_records_are_delivered(shard):
    """-1 (the default) "sets the maximum age to infinite ... never discards old records"."""
    batch = [_record("1", shard.clock[0] - 7 * 24 * 3600)]
    streams._process(KEY, _definition(), SHARD, batch, shard.stop)
    assert shard.executed == [["1"]] and shard.dead_letters == []
