"""The cross-account EventBridge backbone: payments publishes TransactionRecorded to the
backbone's global bus (account 111111111111), which archives and audits everything, hands
subscribers what they subscribe to (ledger, 333333333333) and copies it to a second region.

Absence is only asserted after a later event on the same path went through (a "follower"),
plus a short grace period, so a negative result means "dropped", not "not there yet".
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import statistics
import time
import uuid

import pytest

from .helpers import PIPELINE, messages_since, now_ms, wait_until

pytestmark = pytest.mark.integration

ARRIVES_WITHIN_S = 20
GRACE_S = 2
UNLISTED_ACCOUNT = "999999999999"
LATENCY_SAMPLES = 10


def _put(aws, account: str, region: str, bus_arn: str, detail_type: str, detail: dict, source: str = "it.backbone"):
    return aws("events", account, region).put_events(Entries=[{
        "EventBusName": bus_arn, "Source": source, "DetailType": detail_type, "Detail": json.dumps(detail)}])


def _marker() -> str:
    """Stands in for a body SHA-256 in hand-made events: the log helpers find events by it."""
    return hashlib.sha256(uuid.uuid4().bytes).hexdigest()


def _archive_count(aws, account: str, region: str, name: str) -> int:
    return aws("events", account, region).describe_archive(ArchiveName=name)["EventCount"]


@pytest.fixture(scope="module")
def backbone(cfg):
    return cfg.backbone


@pytest.fixture(scope="module")
def where(outputs, cfg, payments, ledger):
    """Log groups the tests look at: (stack, output key, account, region)."""
    return {
        "ledger consumer": ("LedgerBus", "ConsumerLogGroupName", ledger.account, ledger.region),
        "ledger inbound": ("LedgerBus", "InboundLogGroupName", ledger.account, ledger.region),
        "payments inbound": ("PaymentsBus", "InboundLogGroupName", payments.account, payments.region),
        "backbone audit": ("Backbone", "AuditLogGroupName", cfg.backbone.account, cfg.backbone.region),
        "second region audit": ("BackboneSecondRegion", "AuditLogGroupName", cfg.backbone.account, cfg.second_region),
    }


def _events_in(tx, where, name: str, sha: str, since_ms: int, timeout: float = ARRIVES_WITHIN_S):
    return tx.domain_events(*where[name], sha, since_ms, timeout=timeout)


# --------------------------------------------------------------------------- a transaction reaches the ledger


def test_transaction_reaches_ledger_pseudonymised_audited_and_archived_in_both_regions(tx, aws, outputs, where, payments, backbone, cfg):
    marker = uuid.uuid4().hex
    raw = {
        "customer.name": f"Ada Lovelace {marker}",
        "customer.email": f"ada.{marker}@example.com",
        "customer.iban": f"GB82WEST{int(marker[:14], 16):018d}",
    }
    transaction = {
        "id": str(uuid.uuid4()), "amount": 1234.56, "currency": "EUR", "reference": f"invoice {marker}",
        "customer": {"name": raw["customer.name"], "email": raw["customer.email"], "iban": raw["customer.iban"],
                     "segment": "retail"},
    }
    body = json.dumps(transaction)
    sha = tx.sha256_hex(body)
    archives = {
        "primary": (backbone.account, backbone.region, outputs["Backbone"]["ArchiveName"]),
        "second region": (backbone.account, cfg.second_region, outputs["BackboneSecondRegion"]["ArchiveName"]),
    }
    counts_before = {name: _archive_count(aws, *archive) for name, archive in archives.items()}

    accepted = tx.post(body)
    assert accepted.status == 200, accepted.body
    received = _events_in(tx, where, "ledger consumer", sha, accepted.sent_at_ms)

    assert len(received) == 1, received
    record = received[0][1]
    assert record["detail_type"] == "TransactionRecorded"
    assert record["source"] == payments.source
    assert record["origin_account"] == payments.account
    detail = record["detail"]
    assert detail["body_sha256"] == sha
    assert detail["message_id"] == accepted.message_id
    assert sorted(detail["pseudonymised_fields"]) == sorted(raw)
    published = detail["transaction"]
    # Personal fields: keyed pseudonyms (HMAC-SHA256 with the payments account's key).
    secret_id = aws("lambda", payments.account, payments.region).get_function_configuration(
        FunctionName=outputs[PIPELINE]["RecorderFunctionName"])["Environment"]["Variables"]["PSEUDONYMISATION_SECRET_ARN"]
    secret = json.loads(aws("secretsmanager", payments.account, payments.region).get_secret_value(SecretId=secret_id)["SecretString"])
    for path, value in raw.items():
        token = published["customer"][path.split(".")[1]]
        expected = hmac.new(secret["key"].encode(), value.encode(), hashlib.sha256).hexdigest()
        assert token == f"pseudo:{secret.get('version', 'v1')}:{expected}", path
    # Everything else unchanged.
    assert {k: v for k, v in published.items() if k != "customer"} == {k: v for k, v in transaction.items() if k != "customer"}
    assert published["customer"]["segment"] == "retail"

    # Audited in both regions and on the ledger's bus; archived in both regions.
    for name in ("backbone audit", "second region audit", "ledger inbound"):
        seen = _events_in(tx, where, name, sha, accepted.sent_at_ms)
        assert len(seen) == 1, (name, seen)
        assert seen[0][1]["detail-type"] == "TransactionRecorded"
        assert seen[0][1]["detail"]["transaction"] == published, name
    for name, archive in archives.items():
        assert wait_until(lambda: _archive_count(aws, *archive) > counts_before[name], 10), f"{name} archive did not grow"

    # The raw personal values appear nowhere outside the payments account.
    for name in ("ledger consumer", "ledger inbound", "backbone audit", "second region audit"):
        stack, key, account, region = where[name]
        lines = messages_since(aws("logs", account, region), outputs[stack][key], accepted.sent_at_ms)
        leaks = [(path, line[:200]) for line in lines for path, value in raw.items() if value in line]
        assert not leaks, (name, leaks)


# --------------------------------------------------------------------------- who may publish


def test_an_unlisted_account_cannot_publish_to_the_global_bus(tx, aws, outputs, where, payments, backbone):
    bus_arn = outputs["Backbone"]["GlobalBusArn"]
    refused, follower = _marker(), _marker()
    since = now_ms()

    response = _put(aws, UNLISTED_ACCOUNT, backbone.region, bus_arn, "TransactionRecorded", {"body_sha256": refused})

    assert response["FailedEntryCount"] == 1, response
    assert response["Entries"][0]["ErrorCode"] == "AccessDeniedException", response["Entries"]
    assert _put(aws, payments.account, payments.region, bus_arn, "TransactionRecorded", {"body_sha256": follower})["FailedEntryCount"] == 0
    assert _events_in(tx, where, "backbone audit", follower, since)
    time.sleep(GRACE_S)
    assert _events_in(tx, where, "backbone audit", refused, since, timeout=0) == []


def test_a_listed_account_may_publish_directly_to_the_global_bus(tx, aws, outputs, where, payments):
    marker = _marker()
    since = now_ms()

    response = _put(aws, payments.account, payments.region, outputs["Backbone"]["GlobalBusArn"], "TransactionRecorded",
                    {"body_sha256": marker})

    assert response["FailedEntryCount"] == 0, response
    assert response["Entries"][0]["EventId"]
    audited = _events_in(tx, where, "backbone audit", marker, since)
    assert len(audited) == 1
    assert audited[0][1]["account"] == payments.account


# --------------------------------------------------------------------------- who receives what


@contextlib.contextmanager
def _own_events_logged(aws, outputs, stack: str, app, sha: str):
    """While open, an event from ``app``'s own account carrying ``sha`` that arrives on its
    application bus is written to the bus's inbound log. The bus's own rules drop such
    events by design, so without this a wrong delivery back to the publisher would not show."""
    events = aws("events", app.account, app.region)
    bus, group = outputs[stack]["BusName"], outputs[stack]["InboundLogGroupName"]
    rule = f"it-own-events-{uuid.uuid4().hex[:12]}"
    events.put_rule(Name=rule, EventBusName=bus, State="ENABLED", EventPattern=json.dumps(
        {"account": [app.account], "detail": {"body_sha256": [sha]}}))
    try:
        events.put_targets(Rule=rule, EventBusName=bus, Targets=[{
            "Id": "inbound-log", "Arn": f"arn:aws:logs:{app.region}:{app.account}:log-group:{group}"}])
        yield
    finally:
        events.remove_targets(Rule=rule, EventBusName=bus, Ids=["inbound-log"])
        events.delete_rule(Name=rule, EventBusName=bus)


def test_payments_never_receives_its_own_transaction_back(tx, aws, outputs, where, payments):
    body = json.dumps({"id": str(uuid.uuid4()), "amount": 3, "currency": "EUR"})
    sha = tx.sha256_hex(body)
    with _own_events_logged(aws, outputs, "PaymentsBus", payments, sha):
        accepted = tx.post(body)
        assert accepted.status == 200, accepted.body

        assert _events_in(tx, where, "ledger consumer", sha, accepted.sent_at_ms)
        time.sleep(GRACE_S)
        assert _events_in(tx, where, "payments inbound", sha, accepted.sent_at_ms, timeout=0) == []


def test_ledger_never_receives_its_own_events_back(tx, aws, outputs, where, payments, ledger):
    bus_arn = outputs["Backbone"]["GlobalBusArn"]
    own, follower = _marker(), _marker()
    since = now_ms()
    with _own_events_logged(aws, outputs, "LedgerBus", ledger, own):
        assert _put(aws, ledger.account, ledger.region, bus_arn, "TransactionRecorded", {"body_sha256": own})["FailedEntryCount"] == 0
        assert _put(aws, payments.account, payments.region, bus_arn, "TransactionRecorded", {"body_sha256": follower})["FailedEntryCount"] == 0

        assert _events_in(tx, where, "backbone audit", own, since)
        assert _events_in(tx, where, "ledger consumer", follower, since)
        time.sleep(GRACE_S)
        assert _events_in(tx, where, "ledger inbound", own, since, timeout=0) == []
        assert _events_in(tx, where, "ledger consumer", own, since, timeout=0) == []


def test_ledger_receives_only_the_detail_types_it_subscribes_to(tx, aws, outputs, where, payments, ledger):
    assert "SomethingElse" not in ledger.subscribes
    bus_arn = outputs["Backbone"]["GlobalBusArn"]
    other, follower = _marker(), _marker()
    since = now_ms()

    assert _put(aws, payments.account, payments.region, bus_arn, "SomethingElse", {"body_sha256": other})["FailedEntryCount"] == 0
    assert _put(aws, payments.account, payments.region, bus_arn, "TransactionRecorded", {"body_sha256": follower})["FailedEntryCount"] == 0

    audited = _events_in(tx, where, "backbone audit", other, since)
    assert audited and audited[0][1]["detail-type"] == "SomethingElse"
    assert _events_in(tx, where, "ledger consumer", follower, since)
    time.sleep(GRACE_S)
    assert _events_in(tx, where, "ledger inbound", other, since, timeout=0) == []
    assert _events_in(tx, where, "ledger consumer", other, since, timeout=0) == []


# --------------------------------------------------------------------------- latency (informational)


def test_cross_account_latency_is_measured(tx, where, say):
    """POST in payments -> the ledger consumer's log line in another account, per transaction.
    Printed for information only: nothing here asserts on speed."""
    latencies = []
    for index in range(LATENCY_SAMPLES):
        body = json.dumps({"id": str(uuid.uuid4()), "sample": index, "amount": index + 0.5, "currency": "EUR"})
        accepted = tx.post(body)
        assert accepted.status == 200, accepted.body
        received = _events_in(tx, where, "ledger consumer", tx.sha256_hex(body), accepted.sent_at_ms)
        assert received, f"sample {index} never reached the ledger"
        latencies.append(received[0][0] - accepted.sent_at_ms)

    ordered = sorted(latencies)
    say(f"cross-account latency POST -> ledger consumer log, {len(latencies)} transactions (ms): {latencies}; "
        f"min {ordered[0]}, median {statistics.median(ordered):.0f}, max {ordered[-1]}")


# --------------------------------------------------------------------------- bus policies as AWS applies them

GRANTED_ACCOUNT = "555555555555"


# ministack 1.5.33's PutPermission stores a bare account id as Principal and ignores the
# Policy parameter (storing "Allow *" instead: an open bus); localcloud reshapes both as AWS does.
@pytest.mark.parametrize("grant", ["principal", "policy"])
def test_a_bus_policy_set_through_put_permission_is_enforced_as_on_aws(aws, backbone, grant):
    """An operator onboarding a publisher with PutPermission, on a scratch bus of the backbone account."""
    events = aws("events", backbone.account, backbone.region)
    name = f"it-policy-{uuid.uuid4().hex[:12]}"
    bus_arn = events.create_event_bus(Name=name)["EventBusArn"]
    try:
        if grant == "principal":
            events.put_permission(EventBusName=name, Action="events:PutEvents", Principal=GRANTED_ACCOUNT,
                                  StatementId="it-granted")
        else:
            events.put_permission(EventBusName=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
                "Sid": "it-granted", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{GRANTED_ACCOUNT}:root"},
                "Action": "events:PutEvents", "Resource": bus_arn}]}))

        granted = _put(aws, GRANTED_ACCOUNT, backbone.region, bus_arn, "ItProbe", {"body_sha256": _marker()})
        other = _put(aws, UNLISTED_ACCOUNT, backbone.region, bus_arn, "ItProbe", {"body_sha256": _marker()})

        assert granted["FailedEntryCount"] == 0, granted["Entries"]
        assert other["FailedEntryCount"] == 1, other["Entries"]
        assert other["Entries"][0]["ErrorCode"] == "AccessDeniedException"
    finally:
        events.delete_event_bus(Name=name)
