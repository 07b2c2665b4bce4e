"""Reading log groups the way the tools and tests do: every line, even where a page of
FilterLogEvents comes back full without a nextToken (the local cloud stops at its limit)."""

from __future__ import annotations

import json

import pytest

from localcloud.console import evidence
from ops import transactions


class CappedLogs:
    """FilterLogEvents over ``events`` that, like the local cloud, returns at most
    ``limit`` events from ``startTime`` on and never a nextToken."""

    def __init__(self, events: list[dict]) -> None:
        self.events = events
        self.calls = 0

    def filter_log_events(self, logGroupName, startTime, limit, filterPattern=None, nextToken=None):
        self.calls += 1
        matching = [e for e in self.events if e["timestamp"] >= startTime
                    and (not filterPattern or filterPattern.strip('"') in e["message"])]
        return {"events": matching[:limit]}


def line(timestamp: int, n: int, message: str = "transaction recorded") -> dict:
    return {"timestamp": timestamp, "logStreamName": f"s{n % 7}",
            "message": json.dumps({"message": message, "body_sha256": f"sha-{n}"})}


@pytest.fixture
def small_pages(monkeypatch):
    monkeypatch.setattr(evidence, "PAGE_SIZE", 10)  # the reader ops and the console share


def test_every_line_is_read_once_across_capped_pages(monkeypatch, small_pages):
    # 35 lines, several sharing a millisecond across a page boundary.
    events = [line(1000 + n // 3, n) for n in range(35)]
    logs = CappedLogs(events)
    monkeypatch.setattr(transactions, "client", lambda *args: logs)

    read = [record["body_sha256"] for _ts, record in transactions.log_records("g", "1", "r", 0)]

    assert sorted(read) == sorted(f"sha-{n}" for n in range(35))
    assert len(read) == len(set(read))
    assert logs.calls > 1


def test_a_filter_pattern_is_passed_to_the_service(monkeypatch, small_pages):
    events = [line(1000 + n, n, "transaction recorded" if n % 2 else "something else") for n in range(30)]
    monkeypatch.setattr(transactions, "client", lambda *args: CappedLogs(events))

    read = list(transactions.log_records("g", "1", "r", 0, filter_pattern='"transaction recorded"'))

    assert len(read) == 15


def test_a_millisecond_holding_a_whole_page_is_reported_not_looped(monkeypatch, small_pages):
    events = [line(1000, n) for n in range(25)]
    monkeypatch.setattr(transactions, "client", lambda *args: CappedLogs(events))

    with pytest.raises(RuntimeError, match="share one millisecond"):
        list(transactions.log_records("g", "1", "r", 0))


def test_a_tail_returns_each_line_once_even_when_lines_land_out_of_order(monkeypatch, small_pages):
    logs = CappedLogs([line(1000 + n, n) for n in range(8)])
    monkeypatch.setattr(transactions, "client", lambda *args: logs)
    tail = transactions.LogTail("g", "1", "r", since_ms=0)

    first = [r["body_sha256"] for _ts, r in tail.read()]
    # A concurrent writer's line lands late, stamped before the newest line already read.
    logs.events.insert(3, line(1002, 100))
    logs.events.append(line(1020, 101))
    second = [r["body_sha256"] for _ts, r in tail.read()]
    third = [r["body_sha256"] for _ts, r in tail.read()]

    assert sorted(first) == sorted(f"sha-{n}" for n in range(8))
    assert sorted(second) == ["sha-100", "sha-101"]
    assert third == []


def test_the_benchmark_counts_a_line_the_tail_missed_as_recorded_not_lost(monkeypatch, small_pages):
    """A recorder invocation that ran longer than the tail's look-back writes its line
    behind lines already read; the benchmark's count must still find it."""
    from ops import bench

    logs = CappedLogs([line(100_000 + n, n) for n in range(5)])
    monkeypatch.setattr(transactions, "client", lambda *args: logs)
    monkeypatch.setattr(transactions, "output", lambda *args: "g")
    monkeypatch.setattr(transactions, "payments", lambda: type("App", (), {"account": "1", "region": "r"}))
    monkeypatch.setattr(bench, "LOG_POLL_S", 0.01)
    late = line(100_000 - transactions.LogTail.OVERLAP_MS - 1, 99)  # stamped long before it landed
    original_read = transactions.LogTail.read

    def read_then_land_late(self, predicate=lambda r: True):
        found = original_read(self, predicate)
        if late not in logs.events:
            logs.events.append(late)
        return found

    monkeypatch.setattr(transactions.LogTail, "read", read_then_land_late)

    outcome = bench.processed(0, {f"sha-{n}" for n in (*range(5), 99)}, quiet_s=0.05)

    assert outcome["once"] == 6 and outcome["complete"], outcome
