"""The payments account's transaction pipeline, end to end through the HTTP API:

HTTP API -> SQS -> Pipe -> bus (archived) -> rule -> Step Functions EXPRESS -> Lambda -> Logs.

Every test sends bodies of its own (a fresh uuid inside) and reads log lines from its own
send time on, so tests never see each other's transactions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
import uuid

import pytest

from .helpers import (
    NOT_FOUND,
    PIPELINE,
    PORT,
    RECORDED_WITHIN_S,
    api_path,
    assert_nothing_delivered,
    ingress_depths,
    now_ms,
    raw_request,
    send_ok,
    recorder_cannot_publish,
    take_dead_letter,
    wait_until,
)

pytestmark = pytest.mark.integration

def _unicode_text(marker: str) -> str:
    return f"Zahlung über 100 € — 東京 🚀 ✓ ï ß {marker}"


def _bodies() -> dict[str, str]:
    marker = str(uuid.uuid4())
    padding_target = 100 * 1024
    big_head = f'{{"id": "{marker}", "kind": "100 KB", "padding": "'
    big_tail = '"}'
    pattern = "0123456789abcdefghijklmnopqrstuvwxyz-"
    padding = (pattern * (padding_target // len(pattern) + 1))[: padding_target - len(big_head) - len(big_tail)]
    return {
        # Spacing, key order, a trailing newline and an escape sequence: any re-encoding shows.
        "json": f'{{ "id": "{marker}",  "amount": 12.50, "currency":"EUR",\t"note": "caf\\u00e9", "z": [1, 2 ,3] }}\n',
        "not-json": f"plain text, not json {marker}",
        "unicode-json": json.dumps({"id": marker, "purpose": _unicode_text(marker)}, ensure_ascii=False),
        "unicode-plain": _unicode_text(marker),
        "100KB": big_head + padding + big_tail,
    }


BODY_KINDS = list(_bodies())



def _recorded_once(tx, body: str, since_ms: int) -> dict:
    lines = tx.recorded(tx.sha256_hex(body), since_ms, timeout=RECORDED_WITHIN_S)
    assert lines, f"no 'transaction recorded' line for sha {tx.sha256_hex(body)} within {RECORDED_WITHIN_S} s"
    return lines[0][1]


# --------------------------------------------------------------------------- bodies arrive byte-identical


@pytest.mark.parametrize("kind", BODY_KINDS)
def test_body_arrives_byte_identical_in_the_recorder_log(tx, kind):
    body = _bodies()[kind]
    if kind == "100KB":
        assert len(body.encode("utf-8")) == 100 * 1024
    content_type = "application/json" if kind in ("json", "unicode-json", "100KB") else "text/plain; charset=utf-8"
    accepted = send_ok(tx, body, content_type)

    record = _recorded_once(tx, body, accepted.sent_at_ms)

    assert record["body"] == body
    assert record["body_sha256"] == hashlib.sha256(body.encode("utf-8")).hexdigest()
    assert record["message_id"] == accepted.message_id  # the SQS message the API created
    assert record.get("replay_name") is None  # Powertools leaves out None fields


def test_api_answers_on_the_host_header_url_form(tx, outputs):
    body = json.dumps({"id": str(uuid.uuid4()), "via": "host header"})
    api_id = outputs[PIPELINE]["ApiId"]
    since = now_ms()
    status, _, raw = raw_request("POST", "/", body.encode(), {
        "Host": f"{api_id}.execute-api.localhost.localstack.cloud:{PORT}", "content-type": "application/json"})

    assert status == 200, raw
    assert json.loads(raw)["SendMessageResponse"]["SendMessageResult"]["MessageId"]
    assert _recorded_once(tx, body, since)["body"] == body


# --------------------------------------------------------------------------- archive and replay


def test_transaction_is_archived_and_a_replay_runs_the_workflow_again(tx, aws, payments, outputs):
    events = aws("events", payments.account, payments.region)
    archive_name = outputs[PIPELINE]["ArchiveName"]
    archive = events.describe_archive(ArchiveName=archive_name)
    count_before = archive["EventCount"]
    body = json.dumps({"id": str(uuid.uuid4()), "amount": 7, "currency": "EUR", "test": "replay"})
    sha = tx.sha256_hex(body)

    accepted = send_ok(tx, body)
    first = tx.recorded(sha, accepted.sent_at_ms, timeout=RECORDED_WITHIN_S)
    assert len(first) == 1, first
    line_ms = first[0][0]
    count = wait_until(lambda: events.describe_archive(ArchiveName=archive_name)["EventCount"] > count_before, 10)
    assert count, f"archive {archive_name} EventCount stayed at {count_before}"

    # Archive times are whole seconds: the window reaches one second past each end, and
    # starts only once its end is in the past.
    start = dt.datetime.fromtimestamp(accepted.sent_at_ms / 1000 - 1, dt.timezone.utc)
    end = dt.datetime.fromtimestamp(line_ms / 1000 + 1, dt.timezone.utc)
    time.sleep(max(0.0, end.timestamp() + 0.1 - time.time()))
    replay_name = f"it-{uuid.uuid4().hex[:20]}"
    replay_since = now_ms()
    events.start_replay(ReplayName=replay_name, EventSourceArn=archive["ArchiveArn"], EventStartTime=start,
                        EventEndTime=end, Destination={"Arn": outputs[PIPELINE]["TransactionBusArn"]})

    def finished():
        replay = events.describe_replay(ReplayName=replay_name)
        return replay if replay["State"] in ("COMPLETED", "FAILED", "CANCELLED") else None

    state = wait_until(finished, 60, interval=0.2)
    assert state and state["State"] == "COMPLETED", state
    again = wait_until(lambda: [r for _, r in tx.recorded(sha, replay_since, timeout=0)
                                if r.get("replay_name") == replay_name], RECORDED_WITHIN_S)
    assert len(again) == 1, again
    assert again[0]["body"] == body
    assert again[0]["body_sha256"] == sha
    assert again[0]["message_id"] == accepted.message_id
    # Idempotent: the replayed transaction publishes no second TransactionRecorded.
    group = outputs[PIPELINE]["RecorderLogGroupName"]
    published = wait_until(lambda: [r for _, r in tx.log_records(
        group, payments.account, payments.region, replay_since,
        lambda r: r.get("body_sha256") == sha and r.get("message", "").startswith("TransactionRecorded"))],
        RECORDED_WITHIN_S)
    assert [(r["message"], r["duplicate"]) for r in published] == [("TransactionRecorded already published", True)]


# --------------------------------------------------------------------------- failing path


def test_a_transaction_the_recorder_cannot_publish_is_retried_then_dead_lettered_intact(tx, aws, payments, outputs, cfg):
    sqs = aws("sqs", payments.account, payments.region)
    body = f'{{"id": "{uuid.uuid4()}", "amount": 1, "note": "must fail: Zahlung über 100 € 🚀"}}\n'
    try:
        with recorder_cannot_publish(aws, payments, outputs):
            accepted = send_ok(tx, body)
            dead = take_dead_letter(sqs, outputs[PIPELINE]["WorkflowDeadLetterQueueUrl"], body, timeout=30)

            assert dead is not None, "the original body never reached the workflow dead-letter queue"
            assert dead["Body"] == body
            # One line per attempt; the last one may reach the log group just after the dead letter.
            expected_attempts = 1 + cfg.pipeline.lambda_retry_attempts
            sha = tx.sha256_hex(body)

            def every_attempt():
                lines = tx.recorded(sha, accepted.sent_at_ms, timeout=0)
                return lines if len(lines) >= expected_attempts else None

            attempts = wait_until(every_attempt, 5) or tx.recorded(sha, accepted.sent_at_ms, timeout=0)
            assert len(attempts) == expected_attempts, [(ts - accepted.sent_at_ms, r["timestamp"]) for ts, r in attempts]
            assert {r["message_id"] for _, r in attempts} == {accepted.message_id}
    finally:
        healthy = json.dumps({"id": str(uuid.uuid4()), "after": "restore"})
        healthy_sent = tx.post(healthy)
        assert healthy_sent.status == 200
        assert tx.recorded(tx.sha256_hex(healthy), healthy_sent.sent_at_ms, timeout=30), "pipeline unhealthy after restore"


# --------------------------------------------------------------------------- API errors


@pytest.mark.parametrize(("method", "path"), [("POST", "/nope"), ("GET", "/")], ids=["unknown-route", "wrong-method"])
def test_unrouted_requests_get_404_not_found(outputs, method, path):
    body = json.dumps({"id": str(uuid.uuid4())}).encode() if method == "POST" else None
    status, _, raw = raw_request(method, api_path(outputs, path), body, {"content-type": "application/json"})

    assert status == 404
    assert raw == NOT_FOUND


def test_a_body_over_256_kib_is_refused_with_a_size_error_and_not_delivered(tx, aws, payments, outputs):
    sqs = aws("sqs", payments.account, payments.region)
    depths_before = ingress_depths(sqs, outputs)
    head = f'{{"id": "{uuid.uuid4()}", "padding": "'
    body = (head + "x" * (262_145 - len(head) - 2) + '"}').encode()
    assert len(body) == 262_145
    since = now_ms()

    status, _, raw = raw_request("POST", api_path(outputs), body, {"content-type": "application/json"})

    assert 400 <= status < 500, (status, raw[:300])
    assert status == 400, raw[:300]
    error = json.loads(raw)
    assert any(word in json.dumps(error).lower() for word in ("262144", "256 kib", "size", "too large", "too long")), error
    assert_nothing_delivered(tx, sqs, outputs, hashlib.sha256(body).hexdigest(), since, depths_before)


def test_an_empty_body_is_refused_and_not_delivered(tx, aws, payments, outputs):
    sqs = aws("sqs", payments.account, payments.region)
    depths_before = ingress_depths(sqs, outputs)
    since = now_ms()

    status, _, raw = raw_request("POST", api_path(outputs), b"", {"content-type": "application/json"})

    assert status == 400, raw
    assert json.loads(raw)
    assert_nothing_delivered(tx, sqs, outputs, hashlib.sha256(b"").hexdigest(), since, depths_before)


# --------------------------------------------------------------------------- deployed as on AWS


def test_recorder_is_given_its_secret_by_arn_as_on_aws(aws, payments, outputs):
    lam = aws("lambda", payments.account, payments.region)
    variables = lam.get_function_configuration(FunctionName=outputs[PIPELINE]["RecorderFunctionName"])["Environment"]["Variables"]

    assert variables["PSEUDONYMISATION_SECRET_ARN"].startswith(f"arn:aws:secretsmanager:{payments.region}:{payments.account}:secret:")
