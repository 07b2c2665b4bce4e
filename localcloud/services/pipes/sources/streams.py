"""Kinesis data streams and DynamoDB streams as a pipe's source.

Each shard is read in order from its checkpoint (or the StartingPosition: LATEST,
TRIM_HORIZON, or for Kinesis AT_TIMESTAMP), in batches of up to BatchSize (default 100)
gathered for up to MaximumBatchingWindowInSeconds. "By default it checkpoints to the
highest sequence number of a batch, but only when the batch is a complete success";
with reported item failures it checkpoints before the first failed record and retries
from there. A failing batch is retried until MaximumRetryAttempts (-1: until the
record expires); records older than MaximumRecordAgeInSeconds are discarded before each
attempt, first or retry. With OnPartialBatchItemFailure AUTOMATIC_BISECT a failing batch
is halved and each half retried. What is given up on goes to the pipe's DeadLetterConfig
(SQS queue or SNS topic) as a description of the batch, and the shard moves on.
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-kinesis.html
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-dynamodb.html
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-error-troubleshooting.html
https://docs.aws.amazon.com/eventbridge/latest/pipes-reference/API_PipeSourceKinesisStreamParameters.html
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable

from localcloud import seams
from localcloud.services.pipes import permissions, store
from localcloud.services.pipes.execution import execute, record_id
from localcloud.services.pipes.validation import SOURCE_PARAMETERS, TARGET_MAX_BATCH, kind_of, source_batch_size

logger = logging.getLogger("localcloud.pipes")

POLL_INTERVAL_S = 0.25  # "EventBridge polls shards in your DynamoDB stream ... four times per second"


def _scope(arn: str) -> tuple[str, str]:
    parts = arn.split(":")
    return parts[4], parts[3]


def _call(definition: dict, action: str, payload: dict) -> tuple[int, dict]:
    source = definition["Source"]
    service = "kinesis" if kind_of(source) == "kinesis" else "dynamodbstreams"
    account, region = _scope(source)
    return seams.call_json_api_sync(service, action, account, region, payload, principal=definition.get("RoleArn", ""))


def _shards(definition: dict) -> list[str] | None:
    source = definition["Source"]
    if kind_of(source) == "kinesis":
        status, body = _call(definition, "ListShards", {"StreamARN": source})
        return [s["ShardId"] for s in body.get("Shards", [])] if status < 400 else None
    status, body = _call(definition, "DescribeStream", {"StreamArn": source})
    return [s["ShardId"] for s in body.get("StreamDescription", {}).get("Shards", [])] if status < 400 else None


def source_exists(definition: dict) -> bool:
    return _shards(definition) is not None


def _parameters(definition: dict) -> dict:
    kind = kind_of(definition["Source"])
    return (definition.get("SourceParameters") or {}).get(SOURCE_PARAMETERS[kind]) or {}


def _iterator(key: store.Key, definition: dict, shard_id: str) -> str | None:
    source = definition["Source"]
    request = {"ShardId": shard_id, "StreamARN" if kind_of(source) == "kinesis" else "StreamArn": source}
    checkpoint = store.checkpoint(key, shard_id)
    parameters = _parameters(definition)
    if checkpoint:
        request.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=checkpoint)
    else:
        request["ShardIteratorType"] = parameters.get("StartingPosition", "LATEST")
        if request["ShardIteratorType"] == "AT_TIMESTAMP":
            request["Timestamp"] = parameters.get("StartingPositionTimestamp")
    permissions.require(definition, permissions.SOURCE_READ[kind_of(source)][1], source)
    status, body = _call(definition, "GetShardIterator", request)
    return body.get("ShardIterator") if status < 400 else None


def _pipe_record(definition: dict, shard_id: str, raw: dict) -> dict:
    source = definition["Source"]
    account, region = _scope(source)
    if kind_of(source) == "kinesis":
        return {"kinesisSchemaVersion": "1.0", "partitionKey": raw.get("PartitionKey", ""),
                "sequenceNumber": raw["SequenceNumber"], "data": raw.get("Data", ""),
                "approximateArrivalTimestamp": raw.get("ApproximateArrivalTimestamp", time.time()),
                "eventSource": "aws:kinesis", "eventVersion": "1.0",
                "eventID": f"{shard_id}:{raw['SequenceNumber']}", "eventName": "aws:kinesis:record",
                "invokeIdentityArn": definition.get("RoleArn", ""), "awsRegion": region, "eventSourceARN": source}
    record = {k: v for k, v in raw.items() if k != "eventSourceARN"}
    record.update(awsRegion=region, eventSourceARN=source, eventSource="aws:dynamodb")
    return record


def _sequence(record: dict) -> str:
    return record.get("sequenceNumber") or (record.get("dynamodb") or {}).get("SequenceNumber", "")


def _arrival(record: dict) -> float:
    """When the record reached the stream, in epoch seconds (both services' unit)."""
    if "approximateArrivalTimestamp" in record:
        return float(record["approximateArrivalTimestamp"])
    return float((record.get("dynamodb") or {}).get("ApproximateCreationDateTime") or _clock())


def _clock() -> float:
    return time.time()


def _expired(records: list[dict], max_age: int) -> int:
    """How many records, from the first, are older than ``max_age`` seconds (-1: none ever
    are). A shard's records arrive in order, so the expired ones lead the batch."""
    if max_age == -1:
        return 0
    now = _clock()
    return next((i for i, r in enumerate(records) if now - _arrival(r) <= max_age), len(records))


class _Shard:
    def __init__(self, shard_id: str) -> None:
        self.shard_id = shard_id
        self.iterator: str | None = None
        self.pending: list[dict] = []
        self.first_seen = 0.0


def _read(key: store.Key, definition: dict, shard: _Shard, limit: int) -> None:
    if shard.iterator is None:
        shard.iterator = _iterator(key, definition, shard.shard_id)
        if shard.iterator is None:
            return
    permissions.require(definition, permissions.SOURCE_READ[kind_of(definition["Source"])][2], definition["Source"])
    status, body = _call(definition, "GetRecords", {"ShardIterator": shard.iterator, "Limit": limit})
    if status >= 400:
        shard.iterator = None  # expired or gone: start again from the checkpoint
        return
    shard.iterator = body.get("NextShardIterator")
    if body.get("Records") and not shard.pending:
        shard.first_seen = time.monotonic()
    shard.pending.extend(_pipe_record(definition, shard.shard_id, r) for r in body.get("Records") or [])


def _batch_size(definition: dict) -> int:
    size = source_batch_size(definition)
    if not definition.get("Enrichment"):
        size = min(size, TARGET_MAX_BATCH.get(kind_of(definition["Target"]), size))
    return max(1, size)


def poll(key: store.Key, stop: threading.Event, ready: Callable[[], None]) -> None:
    shards: dict[str, _Shard] = {}
    listed_at = 0.0
    first = True
    while not stop.is_set():
        definition = store.get(key)
        if definition is None:
            return
        try:
            if time.monotonic() - listed_at > 5 or first:
                permissions.require(definition, permissions.SOURCE_READ[kind_of(definition["Source"])][0],
                                    definition["Source"])
                for shard_id in _shards(definition) or []:
                    shards.setdefault(shard_id, _Shard(shard_id))
                listed_at = time.monotonic()
            size = _batch_size(definition)
            window = float(_parameters(definition).get("MaximumBatchingWindowInSeconds", 0) or 0)
            for shard in shards.values():
                if len(shard.pending) < size:
                    _read(key, definition, shard, size - len(shard.pending))
            if first:
                first = False
                ready()
            busy = False
            for shard in shards.values():
                full = len(shard.pending) >= size
                if shard.pending and (full or time.monotonic() - shard.first_seen >= window):
                    batch, shard.pending = shard.pending[:size], shard.pending[size:]
                    shard.first_seen = time.monotonic()
                    with seams.request_scope(key[0], key[1]):
                        _process(key, definition, shard.shard_id, batch, stop)
                    busy = busy or bool(shard.pending)
            if not busy:
                stop.wait(POLL_INTERVAL_S)
        except permissions.AccessDenied as denied:
            store.change(key, StateReason=f"Pipes does not have required permissions to read the stream: "
                                          f"{denied.message}")
            stop.wait(1.0)
        except Exception:
            logger.exception("pipe %s: stream poll failed; retrying", key[2])
            for shard in shards.values():
                shard.iterator, shard.pending = None, []
            stop.wait(1.0)
        if first:
            first = False
            ready()


def _process(key: store.Key, definition: dict, shard_id: str, batch: list[dict], stop: threading.Event) -> None:
    """Deliver ``batch`` (in order), retrying, bisecting and dead-lettering as configured,
    and checkpoint what is done with."""
    parameters = _parameters(definition)
    max_attempts = int(parameters.get("MaximumRetryAttempts", -1))
    max_age = int(parameters.get("MaximumRecordAgeInSeconds", -1))
    bisect = parameters.get("OnPartialBatchItemFailure") == "AUTOMATIC_BISECT"
    pending = [batch]
    retries = {id(batch): 0}
    while pending and not stop.is_set():
        current = pending.pop(0)
        attempts = retries.pop(id(current), 0)
        expired = _expired(current, max_age)
        if expired:  # "Discard records older than the specified age", described on the DLQ
            _dead_letter(definition, shard_id, current[:expired], "RecordAgeExceeded", attempts)
            store.set_checkpoint(key, shard_id, _sequence(current[expired - 1]))
            current = current[expired:]
            if not current:
                continue
        failed = execute(definition, current)
        if not failed:
            store.set_checkpoint(key, shard_id, _sequence(current[-1]))
            continue
        failed_ids = {record_id(r) for r in failed}
        first_failed = next(i for i, r in enumerate(current) if record_id(r) in failed_ids)
        if first_failed:
            store.set_checkpoint(key, shard_id, _sequence(current[first_failed - 1]))
        remaining = current[first_failed:]
        if max_attempts != -1 and attempts >= max_attempts:
            _dead_letter(definition, shard_id, remaining, "RetryAttemptsExhausted", attempts + 1)
            store.set_checkpoint(key, shard_id, _sequence(current[-1]))
            continue
        if bisect and len(remaining) > 1 and len(failed) == len(current):
            halves = [remaining[:len(remaining) // 2], remaining[len(remaining) // 2:]]
            for half in halves:  # as for Lambda, split batches do not use up retry attempts
                retries[id(half)] = attempts
            pending[:0] = halves
        else:
            stop.wait(min(0.1 * 2 ** attempts, 2.0))
            retries[id(remaining)] = attempts + 1
            pending.insert(0, remaining)


def _dead_letter(definition: dict, shard_id: str, records: list[dict], condition: str, attempts: int) -> None:
    """The pipe's dead-letter queue gets a description of the batch given up on (shaped
    as Lambda's documented invocation record for stream sources)."""
    target = ((definition.get("SourceParameters") or {}).get(SOURCE_PARAMETERS[kind_of(definition["Source"])])
              or {}).get("DeadLetterConfig", {}).get("Arn")
    logger.warning("pipe %s: giving up on %d record(s) of %s (%s)", definition["Name"], len(records), shard_id,
                   condition)
    if not target:
        return
    info_key = "KinesisBatchInfo" if kind_of(definition["Source"]) == "kinesis" else "DDBStreamBatchInfo"
    message = json.dumps({
        "requestContext": {"requestId": str(uuid.uuid4()), "pipeArn": definition["Arn"], "condition": condition,
                           "approximateInvokeCount": attempts},
        "version": "1.0",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        info_key: {"shardId": shard_id, "startSequenceNumber": _sequence(records[0]),
                   "endSequenceNumber": _sequence(records[-1]),
                   "approximateArrivalOfFirstRecord": _iso(_arrival(records[0])),
                   "approximateArrivalOfLastRecord": _iso(_arrival(records[-1])),
                   "batchSize": len(records), "streamArn": definition["Source"]},
    })
    account, region = _scope(target)
    try:
        if kind_of(target) == "sqs":
            permissions.require(definition, "sqs:SendMessage", target)
            queue_url = seams.sqs.queue_url_for_arn(target)
            seams.call_json_api_sync("sqs", "SendMessage", account, region,
                                     {"QueueUrl": queue_url, "MessageBody": message},
                                     principal=definition.get("RoleArn", ""))
        else:
            permissions.require(definition, "sns:Publish", target)
            seams.call_query_api_sync("sns", "Publish", account, region, {"TopicArn": target, "Message": message},
                                      principal=definition.get("RoleArn", ""))
    except permissions.AccessDenied as denied:
        logger.warning("pipe %s: cannot write to its dead-letter queue: %s", definition["Name"], denied.message)


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch * 1000) % 1000:03d}Z"
