"""Counting what a crash costs: a steady stream of transactions to the HTTP API, a kill
of the local cloud at some instant, a restart, and then, per accepted transaction, was
it recorded (the recorder's "transaction recorded" line), and did the ledger handle it
more than once. Used by ``make bench`` (crash_lost) and the crash tests.

"Accepted" is the moment the API's 200 arrived. The local cloud promises (README,
persistence) that a kill loses at most the last second of acknowledged work, so a lost
transaction counts against it only when it was accepted more than LAST_SECOND before
the kill.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from ops.transactions import RECORDED, is_recorded_line, log_records, sha256_hex

LAST_SECOND = 1.0
SETTLE_WITHIN_S = 90  # records in flight at the kill come back after the queue's visibility timeout (30 s)
QUIET_S = 8


@dataclass
class Pipeline:
    """Where a stream goes and where its outcome shows, on one local cloud."""

    post: Callable[[bytes], int | None]  # one POST to the HTTP API: its status, None without an answer
    recorder_logs: object  # a CloudWatch Logs client of the payments account
    recorder_group: str
    ledger_logs: object
    ledger_group: str
    sqs: object
    ingress_queue_url: str


@dataclass
class Stream:
    """POSTs at ``rate`` per second from a thread (a context manager); each accepted body
    with the moment its 200 arrived."""

    pipeline: Pipeline
    rate: float = 20.0
    accepted: dict[str, float] = field(default_factory=dict)
    refused: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        sequence, next_at = 0, time.monotonic()
        while not self.stop.is_set():
            body = json.dumps({"id": str(uuid.uuid4()), "seq": sequence, "purpose": "crash count"}).encode()
            if self.pipeline.post(body) == 200:
                self.accepted[sha256_hex(body)] = time.time()
            else:
                self.refused += 1
            sequence += 1
            next_at += 1 / self.rate
            time.sleep(max(0.0, next_at - time.monotonic()))

    def __enter__(self) -> Stream:
        self.thread = threading.Thread(target=self.run, name="crash-stream", daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


def recorded(pipeline: Pipeline, since_ms: int) -> Counter:
    """How many "transaction recorded" lines each body hash has (replays excluded)."""
    return Counter(r["body_sha256"] for _, r in log_records(
        pipeline.recorder_group, "", "", since_ms, lambda r: is_recorded_line(r) and r.get("replay_name") is None,
        filter_pattern=RECORDED, logs=pipeline.recorder_logs))


def handled_by_ledger(pipeline: Pipeline, since_ms: int) -> Counter:
    """How many times the ledger handled each transaction (by body hash)."""
    return Counter(r.get("body_sha256") for _, r in log_records(
        pipeline.ledger_group, "", "", since_ms, lambda r: r.get("message") == "domain event received",
        filter_pattern='"domain event received"', logs=pipeline.ledger_logs))


def queue_depth(pipeline: Pipeline) -> int:
    attributes = pipeline.sqs.get_queue_attributes(
        QueueUrl=pipeline.ingress_queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return sum(int(value) for value in attributes.values())


def settle(pipeline: Pipeline, since_ms: int, accepted: set[str], within_s: float = SETTLE_WITHIN_S) -> Counter:
    """Wait until every accepted transaction is recorded, or nothing is left to come (the
    ingress queue empty, in-flight messages included, and no new line for QUIET_S); the
    recorded counts."""
    deadline, last, changed = time.monotonic() + within_s, Counter(), time.monotonic()
    while True:
        counts = recorded(pipeline, since_ms)
        if accepted <= set(counts) or time.monotonic() > deadline:
            return counts
        if counts != last:
            last, changed = counts, time.monotonic()
        if time.monotonic() - changed > QUIET_S and queue_depth(pipeline) == 0:
            return counts
        time.sleep(1.0)


def verdict(stream: Stream, killed_at: float, counts: Counter, handled: Counter) -> dict:
    lost = {sha: at for sha, at in stream.accepted.items() if sha not in counts}
    return {
        "accepted": len(stream.accepted), "refused": stream.refused, "lost": len(lost),
        "lost_beyond_last_second": sum(1 for at in lost.values() if at < killed_at - LAST_SECOND),
        "lost_in_last_second": sum(1 for at in lost.values() if at >= killed_at - LAST_SECOND),
        "recorded_more_than_once": sum(1 for sha in stream.accepted if counts[sha] > 1),
        "ledger_handled_twice": sum(1 for sha in stream.accepted if handled[sha] > 1),
    }


def trial(pipeline: Pipeline, stop: Callable[[], float], restart: Callable[[], None], stream_s: float,
          rate: float = 20.0) -> dict:
    """Stream for ``stream_s`` seconds, ``stop`` the local cloud (returns when it died or
    the instant that counts as the kill), ``restart`` it, and count."""
    since = int(time.time() * 1000)
    with Stream(pipeline, rate=rate) as stream:
        time.sleep(stream_s)
        killed_at = stop()
    restart()
    counts = settle(pipeline, since, set(stream.accepted))
    return verdict(stream, killed_at, counts, handled_by_ledger(pipeline, since))


def process_gone(pid: int, timeout: float = 120) -> bool:
    """Wait until a process is gone, or dead and not yet reaped (a local cloud's parent,
    ``localcloud up``, exits at start, so nobody may reap it soon); False on timeout."""
    import psutil

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.02)
    return False
