"""`make send`: POST one transaction and follow it through every hop, printing each.

    python -m ops.send [--body TEXT | --body-file PATH] [--timeout SECONDS]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys

from ops.environment import NotDeployed, client, config, output
from ops.transactions import PIPELINE_STACK, api_url, domain_events, post, recorded, sha256_hex, workflow_runs

DEFAULT_BODY = '{"amount": 42.5, "currency": "EUR", "customer": {"name": "Ada Lovelace", "email": "ada@example.com"}}'


class Trace:
    def __init__(self, sent_at_ms: int) -> None:
        self.sent_at_ms = sent_at_ms
        self.failed = False

    def hop(self, number: int, name: str, ok: bool, text: str, at_ms: int | None = None) -> None:
        after = f" (+{at_ms - self.sent_at_ms} ms)" if at_ms else ""
        print(f"  {number} {name:<16} {'ok ' if ok else 'MISSING'} {text}{after}", flush=True)
        self.failed = self.failed or not ok


def archive_count(account: str, region: str, archive: str) -> int:
    return client("events", account, region).describe_archive(ArchiveName=archive).get("EventCount", 0)


def trace(body: str, timeout: float) -> bool:
    cfg = config()
    payments = cfg.transaction_pipeline_app
    ledger = next((a for a in cfg.applications if a.consumer), None)
    body_sha256 = sha256_hex(body)
    archive = output(PIPELINE_STACK, "ArchiveName")
    archived_before = archive_count(payments.account, payments.region, archive)

    print(f"POST {api_url()}  ({len(body.encode())} bytes, sha256 {body_sha256[:16]}…)")
    accepted = post(body)
    t = Trace(accepted.sent_at_ms)
    t.hop(1, "HTTP API -> SQS", accepted.status == 200,
          f"HTTP {accepted.status}, SQS MessageId {accepted.message_id}" if accepted.status == 200
          else f"HTTP {accepted.status} {json.dumps(accepted.body)}")
    if accepted.status != 200:
        return False
    expected_md5 = hashlib.md5(body.encode()).hexdigest()
    md5 = accepted.body["SendMessageResponse"]["SendMessageResult"]["MD5OfMessageBody"]
    t.hop(2, "SQS message", md5 == expected_md5, f"MD5OfMessageBody {md5} {'matches' if md5 == expected_md5 else 'DIFFERS'}")

    lines = recorded(body_sha256, accepted.sent_at_ms, timeout)
    archived_after = archive_count(payments.account, payments.region, archive)
    t.hop(3, "Pipe -> bus", archived_after > archived_before,
          f"event on {output(PIPELINE_STACK, 'TransactionBusName')}, archive {archive}: "
          f"{archived_before} -> {archived_after} events")
    runs = workflow_runs(accepted.message_id, accepted.sent_at_ms, timeout if lines else 1)
    ended = runs[0][1] if runs else {}
    t.hop(4, "Step Functions", bool(runs),
          f"EXPRESS execution {ended['execution_arn'].rsplit(':', 2)[-2][:13]}…  succeeded" if runs else
          f"no ExecutionSucceeded for message {accepted.message_id}", runs[0][0] if runs else None)
    if not lines:
        t.hop(5, "Lambda log line", False, f"no 'transaction recorded' line within {timeout:.0f} s")
        return False
    at_ms, line = lines[0]
    identical = line.get("body") == body and line.get("body_sha256") == body_sha256
    t.hop(5, "Lambda log line", identical,
          f"{output(PIPELINE_STACK, 'RecorderLogGroupName')}: body {'byte-identical' if identical else 'DIFFERS'}, "
          f"sha256 {line.get('body_sha256', '')[:16]}…", at_ms)

    events = domain_events("Backbone", "AuditLogGroupName", cfg.backbone.account, cfg.backbone.region,
                           body_sha256, accepted.sent_at_ms, timeout)
    t.hop(6, "backbone bus", bool(events), f"TransactionRecorded on {cfg.global_bus_name} "
          f"({cfg.backbone.account}/{cfg.backbone.region})", events[0][0] if events else None)
    if ledger:
        consumed = domain_events(f"{ledger.name.title()}Bus", "ConsumerLogGroupName", ledger.account, ledger.region,
                                 body_sha256, accepted.sent_at_ms, timeout)
        detail = consumed[0][1].get("detail", {}) if consumed else {}
        customer = (detail.get("transaction") or {}).get("customer") or {}
        shown = ", ".join(f"{k}={str(v)[:22]}…" for k, v in customer.items()) or "no personal fields in this body"
        t.hop(7, f"{ledger.name} consumer", bool(consumed), f"account {ledger.account}: {shown}",
              consumed[0][0] if consumed else None)
    second = domain_events("BackboneSecondRegion", "AuditLogGroupName", cfg.backbone.account, cfg.second_region,
                           body_sha256, accepted.sent_at_ms, timeout)
    t.hop(8, "second region", bool(second), f"TransactionRecorded on {cfg.global_bus_name} "
          f"({cfg.backbone.account}/{cfg.second_region})", second[0][0] if second else None)
    return not t.failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--body", default=DEFAULT_BODY)
    source.add_argument("--body-file")
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()
    body = open(args.body_file, encoding="utf-8").read() if args.body_file else args.body
    try:
        ok = trace(body, args.timeout)
    except NotDeployed as error:
        print(error, file=sys.stderr)
        return 1
    print("every hop passed" if ok else "some hops did not complete: see above, and `make logs`")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
