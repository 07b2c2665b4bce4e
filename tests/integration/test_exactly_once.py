"""Exactly-once effects downstream of at-least-once delivery.

The recorder is made to time out once right after its PutEvents succeeded (before its
idempotency record says the transaction was published), as it did under load: the
workflow retries, the retry publishes TransactionRecorded again (EventBridge has no
idempotency token), so two copies cross the backbone, with different event ids and the
same ``transaction_id``. The ledger must handle the transaction once and drop the copy.

The fault is a small wrapper module added to the recorder's own deployed code for the
duration of the test (its handler setting points at the wrapper); it marks each
transaction it delayed in the recorder's idempotency table, so only the first attempt
times out. Code and handler are restored afterwards.
"""

from __future__ import annotations

import contextlib
import io
import json
import socket
import urllib.parse
import urllib.request
import uuid
import zipfile

import pytest

from .helpers import ENDPOINT, PIPELINE, now_ms, wait_for_function_update, wait_until

pytestmark = pytest.mark.integration

STALL_AFTER_PUBLISH = '''"""Test fault: the first attempt per transaction publishes, then outlives its timeout."""
import json
import os
import time

import boto3

import handler

_dynamodb = boto3.client("dynamodb")
_publish = handler._events.put_events


def _publish_then_stall(**kwargs):
    response = _publish(**kwargs)
    transaction_id = json.loads(kwargs["Entries"][0]["Detail"])["transaction_id"]
    try:
        _dynamodb.put_item(TableName=os.environ["IDEMPOTENCY_TABLE_NAME"],
                           Item={"id": {"S": "it-stalled#" + transaction_id},
                                 "expiration": {"N": str(int(time.time()) + 3600)}},
                           ConditionExpression="attribute_not_exists(id)")
    except _dynamodb.exceptions.ConditionalCheckFailedException:
        return response  # stalled once already: the retry goes through
    time.sleep(3600)
    return response


handler._events.put_events = _publish_then_stall
lambda_handler = handler.lambda_handler
'''


def _download(location: str) -> bytes:
    """The function's code. A local cloud's code URL may name a host without public DNS;
    then ask the endpoint itself, with that host in the Host header."""
    parts = urllib.parse.urlsplit(location)
    try:
        socket.getaddrinfo(parts.hostname, parts.port or 80)
        request = urllib.request.Request(location)
    except socket.gaierror:
        endpoint = urllib.parse.urlsplit(ENDPOINT)
        request = urllib.request.Request(urllib.parse.urlunsplit(parts._replace(netloc=endpoint.netloc)),
                                         headers={"Host": parts.netloc})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.read()


def _with_module(code: bytes, name: str, source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(code)) as original, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as extended:
        for item in original.infolist():
            extended.writestr(item, original.read(item.filename))
        extended.writestr(name, source)
    return buffer.getvalue()


@contextlib.contextmanager
def recorder_stalls_once_after_publishing(lam, function_name: str):
    configuration = wait_for_function_update(lam, function_name)
    code = _download(lam.get_function(FunctionName=function_name)["Code"]["Location"])
    try:
        lam.update_function_code(FunctionName=function_name,
                                 ZipFile=_with_module(code, "stall_after_publish.py", STALL_AFTER_PUBLISH))
        wait_for_function_update(lam, function_name)
        lam.update_function_configuration(FunctionName=function_name, Handler="stall_after_publish.lambda_handler")
        assert wait_for_function_update(lam, function_name)["Handler"] == "stall_after_publish.lambda_handler"
        yield configuration["Timeout"]
    finally:
        lam.update_function_code(FunctionName=function_name, ZipFile=code)
        wait_for_function_update(lam, function_name)
        lam.update_function_configuration(FunctionName=function_name, Handler=configuration["Handler"])
        wait_for_function_update(lam, function_name)


def _lines(tx, group: str, account: str, region: str, since_ms: int, predicate) -> list[dict]:
    return [record for _ts, record in tx.log_records(group, account, region, since_ms, predicate)]


@pytest.mark.timeout(300)
def test_a_recorder_timeout_after_publishing_leaves_the_ledger_handling_the_transaction_once(
        tx, aws, payments, outputs, cfg, ledger, say):
    lam = aws("lambda", payments.account, payments.region)
    body = json.dumps({"id": str(uuid.uuid4()), "amount": 7.5, "currency": "EUR", "test": "timeout after publish"})
    sha = tx.sha256_hex(body)
    recorder_group = outputs[PIPELINE]["RecorderLogGroupName"]
    consumer_group = outputs["LedgerBus"]["ConsumerLogGroupName"]
    with recorder_stalls_once_after_publishing(lam, outputs[PIPELINE]["RecorderFunctionName"]) as timeout_s:
        since = now_ms()
        accepted = tx.post(body)
        assert accepted.status == 200, accepted.body
        # The retry's publish line: the first attempt never wrote one (it timed out first).
        published = wait_until(lambda: _lines(tx, recorder_group, payments.account, payments.region, since,
                                              lambda r: r.get("body_sha256") == sha
                                              and r.get("message") == "TransactionRecorded published"),
                               timeout_s + 60, interval=0.5)
    assert len(published) == 1, published
    transaction_id = published[0]["transaction_id"]
    attempts = _lines(tx, recorder_group, payments.account, payments.region, since,
                      lambda r: r.get("body_sha256") == sha and r.get("message") == "transaction recorded")

    # Both copies crossed the backbone: the audit log (every event on the global bus) has two.
    copies = wait_until(lambda: (lambda found: found if len(found) >= 2 else None)(
        tx.domain_events("Backbone", "AuditLogGroupName", cfg.backbone.account, cfg.backbone.region, sha, since,
                         timeout=0)), 30, interval=0.5)
    assert copies and len(copies) == 2, copies
    assert {c["detail"]["transaction_id"] for _ts, c in copies} == {transaction_id}
    assert len({c["id"] for _ts, c in copies}) == 2  # two publications, two EventBridge ids

    # The ledger handled it once, and dropped the other copy saying so.
    dropped = wait_until(lambda: _lines(tx, consumer_group, ledger.account, ledger.region, since,
                                        lambda r: r.get("message") == "domain event already handled"
                                        and r.get("dedupe_key") == f"transaction:{transaction_id}"), 30,
                         interval=0.5)
    handled = _lines(tx, consumer_group, ledger.account, ledger.region, since,
                     lambda r: r.get("message") == "domain event received" and r.get("transaction_id") == transaction_id)
    say(f"timeout after publish: {len(attempts)} recorder attempts, {len(copies)} copies on the backbone, "
        f"ledger handled {len(handled)}, dropped {len(dropped)}")
    assert len(attempts) >= 2, attempts  # the first attempt timed out, the retry recorded it again
    assert len(handled) == 1 and len(dropped) == 1, (handled, dropped)
