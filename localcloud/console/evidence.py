"""Where a transaction leaves traces, read through the AWS APIs: log lines carrying its
SHA-256 or its body, Step Functions execution events (AWS's CloudWatch Logs format for
workflows with logging on; EXPRESS workflows keep no other history), and messages parked
on dead-letter queues. Shared by the console and `make send` (ops/send.py)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass

PAGE_SIZE = 10_000  # FilterLogEvents' largest page


def sha256_hex(body: bytes | str) -> str:
    return hashlib.sha256(body.encode("utf-8") if isinstance(body, str) else body).hexdigest()


def event_key(event: dict):
    # The local cloud leaves eventId out of the lines a Lambda writes.
    return event.get("eventId") or (event["timestamp"], event.get("logStreamName"), event.get("message"))


def read_log_events(logs, group: str, since_ms: int, filter_pattern: str = "", until_ms: int | None = None) -> Iterator[dict]:
    """Every log event of ``group`` from ``since_ms`` (FilterLogEvents), following nextToken;
    where a page comes back full without one (the local cloud's FilterLogEvents stops at
    its limit), it continues from the last timestamp read."""
    kwargs = {"logGroupName": group, "startTime": since_ms, "limit": PAGE_SIZE}
    if until_ms is not None:
        kwargs["endTime"] = until_ms
    if filter_pattern:
        kwargs["filterPattern"] = filter_pattern
    seen_at_last_ms: set = set()
    while True:
        page = logs.filter_log_events(**kwargs)
        events = page.get("events", [])
        for event in events:
            if event_key(event) not in seen_at_last_ms:
                yield event
        token = page.get("nextToken")
        if token:
            kwargs["nextToken"] = token
        elif len(events) >= PAGE_SIZE:
            last_ms = events[-1]["timestamp"]
            seen_at_last_ms = {event_key(e) for e in events if e["timestamp"] == last_ms}
            if len(seen_at_last_ms) >= PAGE_SIZE:
                raise RuntimeError(f"more than {PAGE_SIZE} log events in {group} share one millisecond")
            kwargs["startTime"] = last_ms
        else:
            return


def json_line(message: str) -> dict | None:
    if not message.startswith("{"):
        return None
    try:
        record = json.loads(message)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def bodies_in(record: dict) -> list[str]:
    """Transaction bodies a JSON log line or event holds: a ``body`` field (the recorder's
    line, an SQS record), an event whose detail is an SQS record, a workflow's input."""
    found = []
    for holder in (record, record.get("detail"), (record.get("details") or {}).get("input")):
        if isinstance(holder, str):
            holder = json_line(holder) or {}
        if isinstance(holder, dict):
            if isinstance(holder.get("body"), str):
                found.append(holder["body"])
            detail = holder.get("detail")
            if isinstance(detail, dict) and isinstance(detail.get("body"), str):
                found.append(detail["body"])
    return found


def carries(record: dict | None, message: str, sha: str, body: str | None) -> bool:
    """Whether a log line belongs to the transaction: its SHA-256 appears, or its body does."""
    if sha in message:
        return True
    return bool(record) and (body is not None and body in bodies_in(record))


@dataclass(frozen=True)
class Sighting:
    at_ms: int
    group: str  # log group ARN
    record: dict | None  # the JSON line, when it is one
    message: str

    @property
    def failed(self) -> bool:
        """A line that reports an error: Powertools' ERROR level, a Lambda error document."""
        record = self.record or {}
        return record.get("level") in ("ERROR", "CRITICAL") or "errorType" in record


def sightings(logs, group_arn: str, sha: str, body: str | None, since_ms: int, scan: bool) -> list[Sighting]:
    """Lines of a log group that carry the transaction; ``scan`` reads every line (for
    bodies without their hash), else only lines the hash's filter pattern selects."""
    group = group_arn.split(":log-group:", 1)[1]
    found = []
    for event in read_log_events(logs, group, since_ms, "" if scan else f'"{sha}"'):
        message = event.get("message", "")
        record = json_line(message)
        if carries(record, message, sha, body):
            found.append(Sighting(event["timestamp"], group_arn, record, message))
    return found


# --- Step Functions execution events, as AWS writes them to CloudWatch Logs -------------
# https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html : one JSON document per
# event: id, type, details, previous_event_id, event_timestamp (ms, a string), execution_arn.


@dataclass
class Execution:
    arn: str
    events: list[dict]

    def first(self, *types: str) -> dict | None:
        return next((e for e in self.events if e.get("type") in types), None)

    @property
    def started_ms(self) -> int | None:
        started = self.first("ExecutionStarted")
        return int(started["event_timestamp"]) if started else None

    @property
    def outcome(self) -> dict | None:
        return self.first("ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted")

    @property
    def input(self) -> dict:
        started = self.first("ExecutionStarted") or {}
        raw = (started.get("details") or {}).get("input")
        return (json_line(raw) or {}) if isinstance(raw, str) else (raw or {})

    def failures(self) -> list[dict]:
        return [e for e in self.events if e.get("type", "").endswith(("Failed", "TimedOut"))]


def executions(logs, group_arn: str, since_ms: int, until_ms: int | None = None) -> list[Execution]:
    """Executions in a workflow's log group, events in order."""
    group = group_arn.split(":log-group:", 1)[1]
    by_arn: dict[str, list[dict]] = {}
    for event in read_log_events(logs, group, since_ms, until_ms=until_ms):
        record = json_line(event.get("message", ""))
        if record and record.get("execution_arn") and record.get("type"):
            by_arn.setdefault(record["execution_arn"], []).append(record)
    return [Execution(arn, sorted(events, key=lambda e: (int(e.get("event_timestamp", 0)), int(e.get("id", 0)))))
            for arn, events in by_arn.items()]


def execution_of(found: list[Execution], sha: str, body: str | None) -> Execution | None:
    """The execution whose input carries the transaction (its body, or its hash)."""
    for execution in found:
        held = bodies_in({"details": {"input": execution.input}})
        if (body is not None and body in held) or any(sha256_hex(b) == sha for b in held) \
                or sha in json.dumps(execution.input):
            return execution
    return None


# --- dead-letter queues ----------------------------------------------------------------


def peek(sqs, queue_url: str) -> list[dict]:
    """Up to 10 messages of a queue nothing consumes, read without taking them: received
    with a visibility timeout of 0 (what "poll for messages" does in the AWS console).
    Only used on queues with no redrive policy of their own, where a receive moves nothing."""
    return sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0,
                               MessageSystemAttributeNames=["All"]).get("Messages", [])
