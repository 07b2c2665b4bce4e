"""Sending transactions to the HTTP API and finding what each one produced.

Log lines are read the way a user's test reads them: CloudWatch Logs FilterLogEvents on
the log group, from a start time. Latency is taken from the log event's own timestamp
(when the line reached CloudWatch Logs), so how often we poll does not enter the figure.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from localcloud.console import evidence
from ops.environment import client, config, endpoint_url, output

PIPELINE_STACK = "PaymentsTransactionPipeline"
RECORDED = '"transaction recorded"'  # filter pattern for the recorder's first line (still check the message)


def is_recorded_line(record: dict) -> bool:
    return record.get("message") == "transaction recorded"


@dataclass(frozen=True)
class Accepted:
    status: int
    body: dict
    sent_at_ms: int

    @property
    def message_id(self) -> str | None:
        return ((self.body.get("SendMessageResponse") or {}).get("SendMessageResult") or {}).get("MessageId")


sha256_hex = evidence.sha256_hex  # ops' callers and the tests take it from here


def api_url(path: str = "/") -> str:
    """The HTTP API in the LocalStack path form, which needs no DNS for the API host."""
    return f"{endpoint_url()}/_aws/execute-api/{output(PIPELINE_STACK, 'ApiId')}{path}"


def post(body: bytes | str, *, path: str = "/", method: str = "POST", headers: dict | None = None,
         timeout: float = 30) -> Accepted:
    data = body.encode("utf-8") if isinstance(body, str) else body
    request = urllib.request.Request(api_url(path), data=data, method=method,
                                     headers={"content-type": "application/json", **(headers or {})})
    sent_at_ms = int(time.time() * 1000)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        document = json.loads(raw) if raw else {}
    except ValueError:
        document = {"raw": raw.decode("utf-8", "replace")}
    return Accepted(status, document, sent_at_ms)


def payments():
    return config().transaction_pipeline_app


def log_records(group: str, account: str, region: str, since_ms: int,
                predicate: Callable[[dict], bool] = lambda r: True,
                filter_pattern: str = "", logs=None) -> Iterator[tuple[int, dict]]:
    """(timestamp ms, parsed JSON line) of every JSON log line in ``group`` since ``since_ms``."""
    for event, record in log_events(group, account, region, since_ms, predicate, filter_pattern, logs):
        yield event["timestamp"], record


def log_events(group: str, account: str, region: str, since_ms: int,
               predicate: Callable[[dict], bool] = lambda r: True,
               filter_pattern: str = "", logs=None) -> Iterator[tuple[dict, dict]]:
    """(log event, parsed JSON line) of every JSON log line in ``group`` since ``since_ms``;
    ``logs`` is a CloudWatch Logs client of another endpoint than this process's own.
    Reading (pagination, the local cloud's full pages without nextToken) is the console's."""
    for event in evidence.read_log_events(logs or client("logs", account, region), group, since_ms, filter_pattern):
        record = evidence.json_line(event.get("message", ""))
        if record is not None and predicate(record):
            yield event, record


class LogTail:
    """New JSON lines of a log group on each ``read()``, reading only the recent end of
    the group (a whole-group scan on every poll would cost the local cloud more than the
    pipeline it measures). Lines can land slightly out of timestamp order (concurrent
    writers; a Lambda function's lines are written when its invocation ends, stamped when
    they were printed), so each read looks back OVERLAP_MS and skips what it already
    returned. A line later than that is missed: callers that count make a full read last."""

    OVERLAP_MS = 15_000  # the recorder's timeout (10 s) and some

    def __init__(self, group: str, account: str, region: str, since_ms: int, filter_pattern: str = "") -> None:
        self.where = (group, account, region)
        self.filter_pattern = filter_pattern
        self.since_ms = since_ms
        self.newest_ms = since_ms
        self.seen: dict = {}  # event key -> timestamp, for the overlap window

    def read(self, predicate: Callable[[dict], bool] = lambda r: True) -> list[tuple[int, dict]]:
        start = max(self.since_ms, self.newest_ms - self.OVERLAP_MS)
        found = []
        for event, record in log_events(*self.where, start, filter_pattern=self.filter_pattern):
            key = evidence.event_key(event)
            if key in self.seen:
                continue
            self.seen[key] = event["timestamp"]
            self.newest_ms = max(self.newest_ms, event["timestamp"])
            if predicate(record):
                found.append((event["timestamp"], record))
        horizon = self.newest_ms - self.OVERLAP_MS
        self.seen = {k: ts for k, ts in self.seen.items() if ts >= horizon}
        return found


def recorder_tail(since_ms: int) -> LogTail:
    """The recorder's "transaction recorded" lines, read incrementally."""
    app = payments()
    return LogTail(output(PIPELINE_STACK, "RecorderLogGroupName"), app.account, app.region, since_ms, RECORDED)


def wait_for(find: Callable[[], object], timeout: float, interval: float = 0.02):
    """The first truthy value of ``find()`` within ``timeout`` seconds, else the last value."""
    deadline = time.monotonic() + timeout
    while True:
        found = find()
        if found or time.monotonic() >= deadline:
            return found
        time.sleep(interval)


def recorded(body_sha256: str, since_ms: int, timeout: float = 20.0) -> list[tuple[int, dict]]:
    """The recorder's "transaction recorded" lines for ``body_sha256``."""
    app = payments()
    group = output(PIPELINE_STACK, "RecorderLogGroupName")
    return wait_for(lambda: list(log_records(
        group, app.account, app.region, since_ms,
        lambda r: is_recorded_line(r) and r.get("body_sha256") == body_sha256,
        filter_pattern=f'"{body_sha256}"')), timeout)


def recorded_since(since_ms: int) -> list[tuple[int, dict]]:
    app = payments()
    return list(log_records(output(PIPELINE_STACK, "RecorderLogGroupName"), app.account, app.region, since_ms,
                            is_recorded_line, filter_pattern=RECORDED))


def domain_events(stack: str, group_output: str, account: str, region: str, body_sha256: str, since_ms: int,
                  timeout: float = 20.0) -> list[tuple[int, dict]]:
    """Events carrying ``body_sha256`` in a log group fed by an EventBridge rule or the consumer."""
    group = output(stack, group_output)

    def carries(record: dict) -> bool:
        detail = record.get("detail") if isinstance(record.get("detail"), dict) else {}
        return body_sha256 in (detail.get("body_sha256"), record.get("body_sha256"))

    return wait_for(lambda: list(log_records(group, account, region, since_ms, carries,
                                             filter_pattern=f'"{body_sha256}"')), timeout)


def dead_letters(queue_output: str, wait_seconds: int = 1) -> list[dict]:
    app = payments()
    sqs = client("sqs", app.account, app.region)
    messages = sqs.receive_message(QueueUrl=output(PIPELINE_STACK, queue_output), MaxNumberOfMessages=10,
                                   WaitTimeSeconds=wait_seconds, VisibilityTimeout=0).get("Messages", [])
    return messages
