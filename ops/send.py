"""`make send`: POST one transaction and follow it through every hop, printing each.

    python -m ops.send [--body TEXT | --body-file PATH] [--timeout SECONDS]

The hops are the console's journey (localcloud/console/journey.py): what is deployed is
read through the AWS APIs, and each hop shows the trace the transaction left there. The
last line is the console URL with this transaction's journey open (local cloud only).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

from localcloud.console.access import console_url, read_token
from localcloud.console.journey import Journey, follow
from localcloud.console.topology import discover
from ops.environment import NotDeployed, client, config, endpoint_url, local_state_dir, output
from ops.transactions import PIPELINE_STACK, api_url, post, recorded, sha256_hex

DEFAULT_BODY = '{"amount": 42.5, "currency": "EUR", "customer": {"name": "Ada Lovelace", "email": "ada@example.com"}}'
KINDS = {"api": "HTTP API", "queue": "SQS queue", "pipe": "pipe", "bus": "event bus", "rule": "rule",
         "workflow": "state machine", "function": "Lambda", "archive": "archive", "logs": "log group"}


def scopes() -> list[tuple[str, str]]:
    """Every account and region the configuration deploys to."""
    cfg = config()
    found = {(cfg.backbone.account, cfg.backbone.region), (cfg.backbone.account, cfg.second_region)}
    found |= {(app.account, app.region) for app in cfg.applications}
    return sorted(found)


def print_journey(journey: Journey) -> None:
    start = journey.entered_ms
    for hop in journey.hops:
        after = f" +{hop.at_ms - start} ms" if hop.at_ms and start else ""
        text = f"  {hop.text}" if hop.text else ""
        print(f"  {hop.status:<8}{'  ' * hop.depth}{KINDS[hop.node.kind]} {hop.node.name} "
              f"({hop.node.account}/{hop.node.region}){after}{text}", flush=True)


def console_line(sha: str, since_ms: int) -> str | None:
    """The console URL with this journey open, when the local cloud's token is readable here."""
    home = Path(os.environ.get("LOCALCLOUD_HOME", local_state_dir()))
    token = read_token(home)
    return console_url(endpoint_url(), token, f"journey?sha={sha}&since={since_ms}") if token else None


def trace(body: str, timeout: float) -> bool:
    body_sha256 = sha256_hex(body)
    print(f"POST {api_url()}  ({len(body.encode())} bytes, sha256 {body_sha256[:16]}…)")
    accepted = post(body)
    if accepted.status != 200:
        print(f"  HTTP {accepted.status} {json.dumps(accepted.body)}")
        print("the HTTP API did not accept the transaction")
        return False
    md5 = accepted.body["SendMessageResponse"]["SendMessageResult"]["MD5OfMessageBody"]
    identical_at_sqs = md5 == hashlib.md5(body.encode()).hexdigest()
    print(f"  HTTP 200, SQS MessageId {accepted.message_id}, MD5OfMessageBody {'matches' if identical_at_sqs else 'DIFFERS'}")

    topology = discover(client, scopes())
    since_ms = accepted.sent_at_ms - 1000
    deadline = time.monotonic() + timeout
    journey = follow(client, topology, body_sha256, body, since_ms)
    while not journey.complete and time.monotonic() < deadline:
        time.sleep(0.3)
        journey = follow(client, topology, body_sha256, body, since_ms)
    print_journey(journey)

    app = config().transaction_pipeline_app
    lines = recorded(body_sha256, accepted.sent_at_ms, timeout=0)
    identical = bool(lines) and lines[0][1].get("body") == body
    print(f"  the recorder's line holds the body {'byte-identical' if identical else 'NOT byte-identical'} "
          f"({output(PIPELINE_STACK, 'RecorderLogGroupName')}, account {app.account})")
    if journey.stopped:
        print(f"  stopped: {journey.stopped}")
    print("every hop passed" if journey.ok and identical_at_sqs and identical else
          "some hops did not complete: see above, the console, and `make logs`")
    link = console_line(body_sha256, since_ms)
    print(f"console, this journey: {link}" if link else "console: `make console` prints its URL")
    return journey.ok and identical_at_sqs and identical


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--body", default=DEFAULT_BODY)
    source.add_argument("--body-file")
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()
    body = open(args.body_file, encoding="utf-8").read() if args.body_file else args.body
    try:
        return 0 if trace(body, args.timeout) else 1
    except NotDeployed as error:
        print(error, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
