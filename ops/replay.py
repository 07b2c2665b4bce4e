"""`make replay`: replay the transaction archive for a time window and wait until the
workflow has processed the replayed events again.

    python -m ops.replay [--from 2026-11-22T10:00:00Z] [--to 2026-11-22T11:00:00Z]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timedelta, timezone

from ops.environment import NotDeployed, client, output
from ops.transactions import PIPELINE_STACK, log_records, payments


def parse_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SystemExit(f"not an ISO-8601 time: {text!r} (example: 2026-11-22T10:00:00Z)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def replay(start: datetime, end: datetime, timeout: float = 300.0) -> tuple[str, int]:
    """Start a replay of [start, end] onto the transaction bus; return (name, lines reprocessed)."""
    app = payments()
    events = client("events", app.account, app.region)
    archive = events.describe_archive(ArchiveName=output(PIPELINE_STACK, "ArchiveName"))
    name = f"replay-{int(time.time() * 1000)}"
    started_ms = int(time.time() * 1000)
    events.start_replay(
        ReplayName=name,
        EventSourceArn=archive["ArchiveArn"],
        EventStartTime=start,
        EventEndTime=end,
        Destination={"Arn": output(PIPELINE_STACK, "TransactionBusArn")},
    )
    deadline = time.monotonic() + timeout
    state = "STARTING"
    while state not in ("COMPLETED", "FAILED", "CANCELLED") and time.monotonic() < deadline:
        time.sleep(0.2)
        state = events.describe_replay(ReplayName=name)["State"]
    if state != "COMPLETED":
        raise SystemExit(f"replay {name} ended {state}")
    group = output(PIPELINE_STACK, "RecorderLogGroupName")
    count, quiet_since = 0, time.monotonic()
    while time.monotonic() - quiet_since < 3 and time.monotonic() < deadline:
        seen = sum(1 for _ in log_records(group, app.account, app.region, started_ms,
                                          lambda r: r.get("replay_name") == name, filter_pattern=f'"{name}"'))
        if seen != count:
            count, quiet_since = seen, time.monotonic()
        time.sleep(0.3)
    return name, count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    now = datetime.now(timezone.utc)
    parser.add_argument("--from", dest="start", default=(now - timedelta(hours=1)).isoformat())
    parser.add_argument("--to", dest="end", default=now.isoformat())
    args = parser.parse_args()
    start, end = parse_time(args.start), parse_time(args.end)
    if end <= start:
        print("--to must be after --from", file=sys.stderr)
        return 2
    try:
        print(f"replaying transactions archived between {start.isoformat()} and {end.isoformat()} …", flush=True)
        name, count = replay(start, end)
    except NotDeployed as error:
        print(error, file=sys.stderr)
        return 1
    print(f"replay {name} completed: the workflow recorded {count} replayed transaction(s) "
          f"(log lines carry replay_name={name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
