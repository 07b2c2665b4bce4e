"""Pipe log records, written to the pipe's LogConfiguration destinations as AWS writes them.

One record per execution step at or above the configured level (ERROR < INFO < TRACE),
in the documented schema; ``payload``, ``awsRequest`` and ``awsResponse`` only with
IncludeExecutionData ["ALL"]. "If a Amazon CloudWatch Logs destination is configured, the
log records delivered to all destinations have a limit of 256kb": execution data is cut
from the end, payload first, then awsRequest, then awsResponse ("each field entirely
before progressing to truncate the next field"), and ``truncatedFields`` names what was
cut (eb-pipes-logs.html, "Truncating execution data in EventBridge Pipes log records").
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-logs.html
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-logs-schema.html
The pipe's execution role writes them (CloudWatch Logs: logs:CreateLogStream and
logs:PutLogEvents on the group; Firehose: firehose:PutRecordBatch; S3: s3:PutObject).
"""

from __future__ import annotations

import json
import logging
import time
import uuid

from localcloud import seams
from localcloud.services.pipes import permissions

logger = logging.getLogger("localcloud.pipes")

LEVELS = ("OFF", "ERROR", "INFO", "TRACE")
EXECUTION_DATA = ("payload", "awsRequest", "awsResponse")  # also the order they are truncated in
RECORD_LIMIT_BYTES = 256 * 1024  # a record as written to the log group, UTF-8


def _text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


class ExecutionLog:
    """The log records of one pipe execution, written when the execution ends."""

    def __init__(self, definition: dict) -> None:
        self.definition = definition
        configuration = definition.get("LogConfiguration") or {}
        self.level = configuration.get("Level", "OFF") if configuration else "OFF"
        self.with_data = "ALL" in (configuration.get("IncludeExecutionData") or [])
        self.execution_id = str(uuid.uuid4())
        self.records: list[dict] = []

    def step(self, message_type: str, level: str, *, payload=None, request=None, response=None,
             error: dict | None = None) -> None:
        if self.level == "OFF" or LEVELS.index(level) > LEVELS.index(self.level):
            return
        record = {"executionId": self.execution_id, "timestamp": int(time.time() * 1000),
                  "messageType": message_type, "resourceArn": self.definition.get("Arn", ""), "logLevel": level}
        if self.with_data:
            for name, value in (("payload", payload), ("awsRequest", request), ("awsResponse", response)):
                if value is not None:
                    record[name] = _text(value)
        if error:
            record["error"] = error
        self.records.append(record)

    def flush(self) -> None:
        if not self.records:
            return
        records, self.records = self.records, []
        configuration = self.definition.get("LogConfiguration") or {}
        if configuration.get("CloudwatchLogsLogDestination"):
            records = [within_limit(r) for r in records]
        for destination, write in (("CloudwatchLogsLogDestination", _to_log_group),
                                   ("FirehoseLogDestination", _to_firehose), ("S3LogDestination", _to_s3)):
            if configuration.get(destination):
                try:
                    write(self.definition, configuration[destination], records)
                except permissions.AccessDenied as denied:
                    logger.warning("pipe %s: cannot write its log to %s: %s", self.definition.get("Name"),
                                   destination, denied.message)
                except Exception:
                    logger.exception("pipe %s: writing its log to %s failed", self.definition.get("Name"), destination)


def _size(record: dict) -> int:
    return len(json.dumps(record, ensure_ascii=False).encode())


def within_limit(record: dict) -> dict:
    """``record`` cut to RECORD_LIMIT_BYTES by removing characters from the end of its
    execution data fields, in order, each emptied before the next is touched."""
    if _size(record) <= RECORD_LIMIT_BYTES:
        return record
    record = {**record, "truncatedFields": []}
    for name in EXECUTION_DATA:
        if name not in record:
            continue
        value = record[name]
        record["truncatedFields"].append(name)
        record[name] = ""
        if _size(record) > RECORD_LIMIT_BYTES:
            continue  # emptied; the next field gives the rest
        kept, too_many = 0, len(value)  # the longest prefix that fits: kept <= it < too_many
        while too_many - kept > 1:
            middle = (kept + too_many) // 2
            record[name] = value[:middle]
            if _size(record) <= RECORD_LIMIT_BYTES:
                kept = middle
            else:
                too_many = middle
        record[name] = value[:kept]
        break
    return record


def error_detail(message: str, *, status: int = 400, service: str = "", request_id: str = "",
                 exception_type: str = "", resource_arn: str = "") -> dict:
    detail = {"httpStatusCode": status, "message": message, "details": "", "awsService": service,
              "requestId": request_id or str(uuid.uuid4())}
    if exception_type:
        detail["exceptionType"] = exception_type
    if resource_arn:
        detail["resourceArn"] = resource_arn
    return detail


def _scope(arn: str) -> tuple[str, str]:
    parts = arn.split(":")
    return parts[4], parts[3]


def _to_log_group(definition: dict, destination: dict, records: list[dict]) -> None:
    arn = destination.get("LogGroupArn", "")
    group = arn.split(":log-group:", 1)[-1].removesuffix(":*")
    permissions.require(definition, ("logs:CreateLogStream", "logs:PutLogEvents"), arn)
    stream = f"{time.strftime('%Y/%m/%d', time.gmtime())}/{definition.get('Name', '')}"
    account, region = _scope(arn)
    events = [{"timestamp": r["timestamp"], "message": json.dumps(r, ensure_ascii=False)} for r in records]
    with seams.request_scope(account, region):
        seams.logs.action("CreateLogStream", {"logGroupName": group, "logStreamName": stream})
        for batch in _batches(events):
            status, body = seams.logs.action("PutLogEvents", {"logGroupName": group, "logStreamName": stream,
                                                              "logEvents": batch})
            if status >= 400:
                logger.warning("pipe %s: PutLogEvents to %s refused: %s", definition.get("Name"), group, body)


_BATCH_BYTES, _EVENT_OVERHEAD = 1_048_576, 26  # PutLogEvents: messages plus 26 bytes each, per call


def _batches(events: list[dict]) -> list[list[dict]]:
    """Consecutive batches within PutLogEvents' size limit (records are up to 256 KB each)."""
    batches: list[list[dict]] = [[]]
    size = 0
    for event in events:
        cost = len(event["message"].encode()) + _EVENT_OVERHEAD
        if batches[-1] and size + cost > _BATCH_BYTES:
            batches.append([])
            size = 0
        batches[-1].append(event)
        size += cost
    return batches


def _to_firehose(definition: dict, destination: dict, records: list[dict]) -> None:
    arn = destination.get("DeliveryStreamArn", "")
    permissions.require(definition, "firehose:PutRecordBatch", arn)
    account, region = _scope(arn)
    import base64

    seams.call_json_api_sync("firehose", "PutRecordBatch", account, region, {
        "DeliveryStreamName": arn.split("/")[-1],
        "Records": [{"Data": base64.b64encode((json.dumps(r) + "\n").encode()).decode()} for r in records]},
        principal=definition.get("RoleArn", ""))


def _to_s3(definition: dict, destination: dict, records: list[dict]) -> None:
    bucket, prefix = destination.get("BucketName", ""), destination.get("Prefix", "")
    key = f"{prefix}{time.strftime('%Y/%m/%d/%H', time.gmtime())}/{records[0]['executionId']}.json"
    permissions.require(definition, "s3:PutObject", f"arn:aws:s3:::{bucket}/{key}")
    account = destination.get("BucketOwner") or definition["Arn"].split(":")[4]
    region = definition["Arn"].split(":")[3]
    body = "".join(json.dumps(r) + "\n" for r in records).encode()
    headers = {"content-type": "application/json", "host": "s3.amazonaws.com",
               "authorization": f"AWS4-HMAC-SHA256 Credential={account}/20260101/{region}/s3/aws4_request"}
    seams.call_handler_sync("s3", account, region, "PUT", f"/{bucket}/{key}", headers, body,
                            principal=definition.get("RoleArn", ""))
