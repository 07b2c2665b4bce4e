"""The metrics AWS services publish (AWS/Lambda Invocations, Duration, …), kept at one
minute's resolution once the minute is past, as CloudWatch keeps them.

ministack records one data point per invocation or execution and keeps each for two
weeks: about 0.7 KB of server memory per transaction, without bound during a working day
(measured: +7 MB per 10,000 transactions). On AWS these are regular-resolution metrics:
"For metrics with regular resolution, a period can be as short as one minute (60
seconds) and must be a multiple of 60"; only PutMetricData with a StorageResolution of 1
stores finer (CloudWatch API Reference, MetricStat). So each sweep folds the points of a minute
that ended over HORIZON_S ago into one weighted point per distinct value, stamped at the
minute's start: SampleCount, Sum, Minimum, Maximum, Average and percentiles come out as
before for any period of whole minutes. Only the ``AWS/`` namespaces (AWS refuses
PutMetricData there), so custom and high-resolution metrics stay as they were published.
"""

from __future__ import annotations

import time

from localcloud import seams
from localcloud.extension import Extension
from localcloud.state import retention

HORIZON_S = 300  # recent points stay as recorded (alarms and tests read the last minutes)


def _fold(points: list[dict]) -> list[dict]:
    folded: dict[tuple, dict] = {}
    for point in points:
        minute = int(point["Timestamp"] // 60) * 60
        key = (minute, point.get("Unit"), point["Value"])
        kept = folded.get(key)
        if kept is None:
            folded[key] = {**point, "Timestamp": float(minute), "Count": float(point.get("Count", 1.0))}
        else:
            kept["Count"] += float(point.get("Count", 1.0))
    return list(folded.values())


def roll_up(now: float | None = None) -> int:
    """Fold past minutes of AWS service metrics; returns how many stored points it saved."""
    boundary = (int((time.time() if now is None else now) - HORIZON_S) // 60) * 60
    saved = 0
    for namespace, points in seams.cloudwatch.metric_point_lists():
        if not namespace.startswith("AWS/"):
            continue
        count = len(points)  # points appended from here on stay untouched
        past, recent = [], []
        for point in points[:count]:
            folds = "_stat" not in point and point.get("Timestamp", boundary) < boundary
            (past if folds else recent).append(point)
        if len(past) < 2:
            continue
        folded = _fold(past)
        if len(folded) < len(past):
            points[:count] = folded + recent  # one slice assignment: appends made meanwhile are kept
            saved += len(past) - len(folded)
    return saved


def needed() -> bool:
    return seams.cloudwatch.keeps_raw_points()


def start() -> None:
    retention.register("AWS service metrics at one-minute resolution", roll_up)


EXTENSION = Extension(name="metric_minutes", needed=needed, install=lambda: None, start=start)
