"""AWS service metrics are kept at one-minute resolution once the minute is past, so a
long day of transactions does not grow the server (ministack keeps every point two
weeks), and every statistic of whole-minute periods reads as before. In process, on
ministack's CloudWatch store; the reference for the resolution is cited in
``localcloud/services/cloudwatch``."""

from __future__ import annotations

import random

import pytest

from localcloud import seams
from localcloud.services import cloudwatch as metric_minutes

NOW = 1_800_000_000.0
DIMS = {"FunctionName": "Recorder"}


@pytest.fixture
def store():
    from ministack.services import cloudwatch

    cloudwatch._metrics._data.clear()
    yield cloudwatch
    cloudwatch._metrics._data.clear()


def _record(cw, namespace, name, unit, points):
    with seams.request_scope("222222222222", "us-east-1"):
        bucket = cw._metric_bucket((namespace, name, cw._dims_key(DIMS)))
        bucket.extend({"Timestamp": ts, "Value": float(v), "Unit": unit, "Dimensions": dict(DIMS)} for ts, v in points)
        return bucket


def _by_minute(cw, points):
    minutes: dict[int, list] = {}
    for point in points:
        minutes.setdefault(int(point["Timestamp"] // 60) * 60, []).append(point)
    return {minute: (cw._calc_stats(pts), cw._percentile(cw._percentile_samples(pts), 99))
            for minute, pts in sorted(minutes.items())}


def test_past_minutes_fold_and_read_the_same(store):
    rng = random.Random(7)
    past = [(NOW - 3600 + i * 0.5, 1) for i in range(6000)]  # Invocations: one point per invocation
    durations = [(NOW - 3600 + i * 0.5, rng.choice([12.5, 13.0, 40.25])) for i in range(6000)]
    recent = [(NOW - 30 + i, 1) for i in range(20)]
    invocations = _record(store, "AWS/Lambda", "Invocations", "Count", past + recent)
    duration = _record(store, "AWS/Lambda", "Duration", "Milliseconds", durations)
    before = (_by_minute(store, invocations), _by_minute(store, duration))

    saved = metric_minutes.roll_up(now=NOW)

    assert len(invocations) == 50 + 20, "one point per past minute, the recent ones as recorded"
    assert len(duration) == 50 * 3
    assert saved == 6000 - 50 + 6000 - 150
    assert (_by_minute(store, invocations), _by_minute(store, duration)) == before
    assert metric_minutes.roll_up(now=NOW) == 0, "a folded minute folds to itself"


def test_custom_metrics_stay_as_published(store):
    custom = _record(store, "Payments", "Amount", "None", [(NOW - 3600 + i, 5) for i in range(500)])
    metric_minutes.roll_up(now=NOW)
    assert len(custom) == 500
