"""`make logs`: follow the workflow Lambda's log, one JSON line per transaction.

    python -m ops.logs [--since-minutes 10]
"""

from __future__ import annotations

import argparse
import sys
import time

from ops.environment import NotDeployed, client, output
from ops.transactions import PIPELINE_STACK, payments


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--since-minutes", type=float, default=10)
    args = parser.parse_args()
    try:
        group = output(PIPELINE_STACK, "RecorderLogGroupName")
    except NotDeployed as error:
        print(error, file=sys.stderr)
        return 1
    app = payments()
    logs = client("logs", app.account, app.region)
    since = int((time.time() - args.since_minutes * 60) * 1000)
    seen: set[str] = set()
    print(f"following {group} (account {app.account}); Ctrl-C to stop", file=sys.stderr, flush=True)
    try:
        while True:
            kwargs = {"logGroupName": group, "startTime": since}
            while True:
                page = logs.filter_log_events(**kwargs)
                for event in page.get("events", []):
                    if event["eventId"] not in seen:
                        seen.add(event["eventId"])
                        print(event["message"], flush=True)
                        since = max(since, event["timestamp"])
                if not page.get("nextToken"):
                    break
                kwargs["nextToken"] = page["nextToken"]
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
