"""The Lambda handlers, run in-process against moto (Secrets Manager, DynamoDB, EventBridge).

lambda/<name>/ are not packages (they are the Lambda's code root), so each handler is
loaded fresh from its file under a unique module name, with its directory on sys.path.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import importlib.util
import io
import json
import re
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws

from .conftest import PROJECT_ROOT
from .helpers import iter_json_lines

RECORDER_DIR = PROJECT_ROOT / "lambda" / "transaction_recorder"
CONSUMER_DIR = PROJECT_ROOT / "lambda" / "ledger_consumer"

MOTO_ACCOUNT = "123456789012"
DOMAIN_BUS = "local-backbone"
DOMAIN_BUS_ARN = f"arn:aws:events:us-east-1:{MOTO_ACCOUNT}:event-bus/{DOMAIN_BUS}"
HMAC_KEY = "k3y-for-tests-only-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"
PSEUDONYM = re.compile(r"pseudo:v1:[0-9a-f]{64}")


def _load(name: str, directory: Path, monkeypatch):
    """Import ``directory/handler.py`` as a fresh module called ``name``."""
    monkeypatch.syspath_prepend(str(directory))
    for stale in ("pseudonymise", name):
        sys.modules.pop(stale, None)
    spec = importlib.util.spec_from_file_location(name, directory / "handler.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module


def _capture_logs(module) -> io.StringIO:
    """Powertools Logger writes JSON lines to the stream it was created with (stdout);
    point its handler at a buffer we can read."""
    buffer = io.StringIO()
    module.logger.registered_handler.setStream(buffer)
    return buffer


@dataclass
class LambdaContext:
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_name: str = "PaymentsTransactionPipeline-RecorderFunction"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:us-east-1:{MOTO_ACCOUNT}:function:recorder"
    log_group_name: str = "/aws/lambda/recorder"
    log_stream_name: str = "2026/11/22/[$LATEST]abc"

    def get_remaining_time_in_millis(self) -> int:
        return 9_000


@dataclass
class ExpiredContext(LambdaContext):
    """An attempt whose time ran out: its in-progress idempotency record expires at once,
    as it has by the time the workflow retries an attempt that timed out."""

    def get_remaining_time_in_millis(self) -> int:
        return 0


def pipe_event(body, message_id: str = "m-1", replay_name: str | None = None) -> dict:
    """An EventBridge event as the pipe produces it: the SQS record is the detail."""
    event = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "TransactionReceived",
        "source": "transactions.api",
        "account": MOTO_ACCOUNT,
        "time": "2026-11-22T15:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "messageId": message_id,
            "receiptHandle": "rh",
            "body": body,
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {},
            "md5OfBody": hashlib.md5(body.encode() if isinstance(body, str) else b"").hexdigest(),
            "eventSource": "aws:sqs",
            "eventSourceARN": f"arn:aws:sqs:us-east-1:{MOTO_ACCOUNT}:ingress",
            "awsRegion": "us-east-1",
        },
    }
    if replay_name:
        event["replay-name"] = replay_name
    return event


@dataclass
class Recorder:
    module: object
    logs: io.StringIO
    put_events: list[dict]  # PutEvents parameters as the handler sent them

    def invoke(self, event: dict, context: LambdaContext | None = None) -> dict:
        return self.module.lambda_handler(copy.deepcopy(event), context or LambdaContext())

    def log_lines(self) -> list[dict]:
        """The record of receipt: one line per delivery, with the body."""
        return [line for line in iter_json_lines(self.logs.getvalue()) if line.get("message") == "transaction recorded"]

    def publish_lines(self) -> list[dict]:
        """The line after publishing, saying whether this delivery was a duplicate."""
        return [line for line in iter_json_lines(self.logs.getvalue())
                if str(line.get("message", "")).startswith("TransactionRecorded ")]

    def published_details(self) -> list[dict]:
        return [json.loads(entry["Detail"]) for call in self.put_events for entry in call["Entries"]]


@pytest.fixture
def recorder(aws_credentials, monkeypatch) -> Recorder:
    monkeypatch.setenv("IDEMPOTENCY_TABLE_NAME", "idempotency")
    monkeypatch.setenv("DOMAIN_EVENT_BUS_ARN", DOMAIN_BUS_ARN)
    monkeypatch.setenv("DOMAIN_EVENT_SOURCE", "app.payments")
    monkeypatch.setenv("PERSONAL_FIELDS", "customer.name,customer.email,customer.iban")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "transaction_recorder")
    monkeypatch.delenv("POWERTOOLS_IDEMPOTENCY_DISABLED", raising=False)
    with mock_aws():
        boto3.client("dynamodb").create_table(
            TableName="idempotency",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        secret = boto3.client("secretsmanager").create_secret(
            Name="pseudonymisation", SecretString=json.dumps({"version": "v1", "key": HMAC_KEY})
        )
        monkeypatch.setenv("PSEUDONYMISATION_SECRET_ARN", secret["ARN"])
        boto3.client("events").create_event_bus(Name=DOMAIN_BUS)

        from aws_lambda_powertools.utilities import parameters

        parameters.clear_caches()
        module = _load("transaction_recorder_handler", RECORDER_DIR, monkeypatch)
        calls: list[dict] = []
        module._events.meta.events.register(
            "provide-client-params.events.PutEvents", lambda params, **_: calls.append(copy.deepcopy(params))
        )
        yield Recorder(module, _capture_logs(module), calls)
        parameters.clear_caches()


def expected_pseudonym(value: str) -> str:
    # Computed here independently of pseudonymise.py.
    return "pseudo:v1:" + hmac.new(HMAC_KEY.encode(), value.encode(), hashlib.sha256).hexdigest()


# --------------------------------------------------------------------------- the log line

BODIES = {
    "json": '{"amount": 12.5,  "currency":"EUR", "customer": {"name": "Ada"}}\n',  # spacing kept as sent
    "not-json": "amount=12.50&currency=EUR; not JSON at all {",
    "unicode": '{"note": "Zahlung für Zoë – 東京 💶", "amount": "12,50 €"}',
    "empty": "",
}


@pytest.mark.parametrize("kind", sorted(BODIES))
def test_logs_the_body_exactly_with_its_sha256(recorder, kind):
    body = BODIES[kind]
    result = recorder.invoke(pipe_event(body, message_id=f"m-{kind}"))
    (line,) = recorder.log_lines()
    assert line["body"] == body  # byte for byte, not re-serialized
    assert line["body_sha256"] == hashlib.sha256(body.encode("utf-8")).hexdigest()
    assert line["message_id"] == f"m-{kind}"
    assert line["level"] == "INFO" and line["service"] == "transaction_recorder"
    assert result["body_sha256"] == line["body_sha256"]
    (published,) = recorder.publish_lines()
    assert published["duplicate"] is False and "body" not in published
    assert result["domain_event_id"] == published["domain_event_id"]


@pytest.mark.parametrize("boundary", ["\u2028", "\u2029", "\x85"], ids=["LS", "PS", "NEL"])
def test_a_body_holding_a_unicode_line_boundary_stays_on_one_ascii_log_line(recorder, boundary):
    # Log pipelines that split on every Unicode line boundary (ministack's Lambda log
    # capture does) must not cut the line: it is pure ASCII, the parsed body exact.
    body = f"first{boundary}second"
    recorder.invoke(pipe_event(body, "m-boundary"))
    raw = [text for text in recorder.logs.getvalue().split("\n") if '"transaction recorded"' in text]
    assert len(raw) == 1 and raw[0].isascii() and len(raw[0].splitlines()) == 1
    (line,) = recorder.log_lines()
    assert line["body"] == body


def test_one_log_line_per_transaction(recorder):
    recorder.invoke(pipe_event('{"n": 1}', "m-1"))
    recorder.invoke(pipe_event('{"n": 2}', "m-2"))
    assert [line["body"] for line in recorder.log_lines()] == ['{"n": 1}', '{"n": 2}']


def test_replay_name_is_logged(recorder):
    recorder.invoke(pipe_event('{"n": 1}', replay_name="replay-2026-11-22"))
    (line,) = recorder.log_lines()
    assert line["replay_name"] == "replay-2026-11-22"


def test_replay_name_is_none_outside_a_replay(recorder):
    recorder.invoke(pipe_event('{"n": 1}'))
    (line,) = recorder.log_lines()
    assert line.get("replay_name") is None


# --------------------------------------------------------------------------- the domain event

PERSONAL = {"name": "Ada Lovelace", "email": "ada@example.org", "iban": "GB33BUKB20201555555555"}


def test_publishes_transaction_recorded_with_personal_fields_pseudonymised(recorder):
    body = json.dumps({"amount": 12.5, "currency": "EUR", "customer": {**PERSONAL, "tier": "gold"}})
    recorder.invoke(pipe_event(body, "m-42"))
    (call,) = recorder.put_events
    (entry,) = call["Entries"]
    assert entry["EventBusName"] == DOMAIN_BUS_ARN
    assert entry["Source"] == "app.payments"
    assert entry["DetailType"] == "TransactionRecorded"
    detail = json.loads(entry["Detail"])
    customer = detail["transaction"]["customer"]
    for field_name, raw in PERSONAL.items():
        assert PSEUDONYM.fullmatch(customer[field_name]), customer[field_name]
        assert customer[field_name] == expected_pseudonym(raw)
    assert customer["tier"] == "gold"  # not personal: unchanged
    assert detail["transaction"]["amount"] == 12.5
    assert sorted(detail["pseudonymised_fields"]) == ["customer.email", "customer.iban", "customer.name"]
    assert detail["body_sha256"] == hashlib.sha256(body.encode()).hexdigest()
    assert detail["message_id"] == "m-42"
    assert detail["body_is_json_object"] is True


def test_raw_personal_values_never_leave_in_the_put_events_call(recorder):
    body = json.dumps({"customer": PERSONAL, "reference": "inv-7"})
    recorder.invoke(pipe_event(body))
    sent = json.dumps(recorder.put_events)
    for raw in PERSONAL.values():
        assert raw not in sent
        assert json.dumps(raw)[1:-1] not in sent  # nor JSON-escaped
    assert body not in sent  # the body itself is not forwarded either


def test_non_json_body_publishes_only_its_hash(recorder):
    body = "name=Ada Lovelace&iban=GB33BUKB20201555555555"
    recorder.invoke(pipe_event(body))
    (detail,) = recorder.published_details()
    assert detail["transaction"] is None and detail["body_is_json_object"] is False
    assert detail["pseudonymised_fields"] == []
    assert "Ada" not in json.dumps(recorder.put_events)


def test_same_customer_gets_the_same_token_across_transactions(recorder):
    recorder.invoke(pipe_event(json.dumps({"customer": PERSONAL, "n": 1}), "m-1"))
    recorder.invoke(pipe_event(json.dumps({"customer": PERSONAL, "n": 2}), "m-2"))
    first, second = recorder.published_details()
    assert first["transaction"]["customer"] == second["transaction"]["customer"]


def test_the_domain_event_reaches_moto_eventbridge(recorder):
    # The PutEvents parameters are valid for the real API model (moto accepted them).
    result = recorder.invoke(pipe_event('{"n": 1}'))
    assert re.fullmatch(r"[0-9a-f-]{36}", result["domain_event_id"])


# --------------------------------------------------------------------------- idempotency


def test_redelivered_event_publishes_once_and_logs_duplicate(recorder):
    event = pipe_event(json.dumps({"customer": PERSONAL}), "m-7")
    first = recorder.invoke(event, LambdaContext(aws_request_id="req-1"))
    second = recorder.invoke(event, LambdaContext(aws_request_id="req-2"))  # SQS redelivery / replay
    assert len(recorder.put_events) == 1
    assert second["domain_event_id"] == first["domain_event_id"]
    assert (first["duplicate"], second["duplicate"]) == (False, True)
    assert [line["duplicate"] for line in recorder.publish_lines()] == [False, True]
    receipts = recorder.log_lines()
    assert len(receipts) == 2 and receipts[0]["body"] == receipts[1]["body"]  # every delivery is on record


def test_same_message_id_with_another_body_is_a_new_transaction(recorder):
    # The idempotency key is (message id, body hash): a different body is never swallowed.
    recorder.invoke(pipe_event('{"n": 1}', "m-7"))
    recorder.invoke(pipe_event('{"n": 2}', "m-7"))
    assert len(recorder.put_events) == 2


def test_failed_put_events_raises_and_a_retry_publishes(recorder, monkeypatch):
    real_put_events = recorder.module._events.put_events
    attempts = []

    def flaky(**kwargs):
        attempts.append(kwargs)
        if len(attempts) == 1:
            return {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}]}
        return real_put_events(**kwargs)

    monkeypatch.setattr(recorder.module._events, "put_events", flaky)
    event = pipe_event('{"n": 1}', "m-9")
    with pytest.raises(RuntimeError, match="PutEvents refused"):
        recorder.invoke(event, LambdaContext(aws_request_id="req-1"))
    # Step Functions retries: the failed attempt must not be remembered as done.
    result = recorder.invoke(event, LambdaContext(aws_request_id="req-2"))
    assert len(attempts) == 2 and result["domain_event_id"] and result["duplicate"] is False
    # The receipt is logged before publishing, so both attempts are on record.
    assert len(recorder.log_lines()) == 2
    (published,) = recorder.publish_lines()
    assert published["duplicate"] is False


def test_the_transaction_id_is_derived_from_the_transaction_and_travels_in_every_copy(recorder):
    body = json.dumps({"n": 1})
    sha = hashlib.sha256(body.encode()).hexdigest()
    expected = hashlib.sha256(f"m-11\n{sha}".encode()).hexdigest()  # message id and body hash, nothing per attempt
    result = recorder.invoke(pipe_event(body, "m-11"))
    (detail,) = recorder.published_details()
    assert detail["transaction_id"] == result["transaction_id"] == expected
    assert recorder.log_lines()[0]["transaction_id"] == expected
    recorder.invoke(pipe_event(body, "m-12"))  # another message, same body: another transaction
    assert recorder.published_details()[1]["transaction_id"] != expected


def test_a_timeout_after_put_events_republishes_with_the_same_transaction_id(recorder, monkeypatch):
    # The attempt publishes, then dies before its result is stored (the Lambda timed out);
    # its in-progress record has expired when the workflow retries. The retry publishes
    # again (EventBridge has no idempotency token) with the same transaction_id, which
    # consumers dedupe on (test_ledger_handles_a_transaction_once_…).
    real_put_events = recorder.module._events.put_events

    class TimedOut(Exception):
        pass

    def publish_then_time_out(**kwargs):
        real_put_events(**kwargs)
        raise TimedOut("Task timed out after 10.00 seconds")

    monkeypatch.setattr(recorder.module._events, "put_events", publish_then_time_out)
    event = pipe_event('{"n": 5}', "m-13")
    with pytest.raises(TimedOut):
        recorder.invoke(event, ExpiredContext(aws_request_id="req-1"))
    monkeypatch.setattr(recorder.module._events, "put_events", real_put_events)
    recorder.invoke(event, LambdaContext(aws_request_id="req-2"))
    first, second = recorder.published_details()
    assert first["transaction_id"] == second["transaction_id"]
    assert first == second  # the same domain event, bit for bit, but for its EventBridge id


def test_a_replay_that_publishes_says_so(recorder):
    recorder.invoke(pipe_event('{"n": 6}', "m-14", replay_name="replay-1"))
    (detail,) = recorder.published_details()
    assert detail["replay_name"] == "replay-1"


# --------------------------------------------------------------------------- malformed events


@pytest.mark.parametrize(
    "detail",
    [
        pytest.param({"messageId": "m-1"}, id="no-body"),
        pytest.param({"messageId": "m-1", "body": {"amount": 1}}, id="body-is-an-object"),
        pytest.param({"messageId": "m-1", "body": None}, id="body-is-null"),
        pytest.param({"messageId": "m-1", "body": 12}, id="body-is-a-number"),
        pytest.param("a string detail", id="detail-not-an-object"),
    ],
)
def test_event_without_a_string_body_raises_and_publishes_nothing(recorder, detail):
    event = pipe_event("x")
    event["detail"] = detail
    with pytest.raises(recorder.module.MalformedTransactionEvent):
        recorder.invoke(event)
    assert recorder.put_events == []
    assert recorder.log_lines() == []


# --------------------------------------------------------------------------- pseudonymise.py


@pytest.fixture(scope="module")
def pseudonymise():
    sys.path.insert(0, str(RECORDER_DIR))
    try:
        spec = importlib.util.spec_from_file_location("pseudonymise_under_test", RECORDER_DIR / "pseudonymise.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(RECORDER_DIR))


FIELDS = ("customer.name", "customer.email", "customer.iban")


def test_pseudonym_is_keyed_hmac_sha256_with_the_key_version(pseudonymise):
    token = pseudonymise.pseudonym(b"key-a", "v1", "Ada")
    assert token == "pseudo:v1:" + hmac.new(b"key-a", b"Ada", hashlib.sha256).hexdigest()
    assert pseudonymise.pseudonym(b"key-a", "v2", "Ada").startswith("pseudo:v2:")


def test_same_key_same_token_other_key_other_token(pseudonymise):
    doc = {"customer": {"name": "Ada", "email": "ada@example.org", "iban": "GB33"}}
    a1, _ = pseudonymise.pseudonymise_fields(doc, FIELDS, b"key-a", "v1")
    a2, _ = pseudonymise.pseudonymise_fields(doc, FIELDS, b"key-a", "v1")
    b, _ = pseudonymise.pseudonymise_fields(doc, FIELDS, b"key-b", "v1")
    assert a1 == a2
    for name in ("name", "email", "iban"):
        assert a1["customer"][name] != b["customer"][name]


def test_document_is_not_modified_in_place(pseudonymise):
    doc = {"customer": {"name": "Ada"}}
    result, replaced = pseudonymise.pseudonymise_fields(doc, FIELDS, b"k", "v1")
    assert doc == {"customer": {"name": "Ada"}}
    assert replaced == ["customer.name"] and result["customer"]["name"] != "Ada"


@pytest.mark.parametrize(
    "doc",
    [
        pytest.param({"amount": 1}, id="no-customer"),
        pytest.param({"customer": "Ada"}, id="customer-not-an-object"),
        pytest.param({"customer": {"phone": "1"}}, id="other-fields-only"),
        pytest.param({"customer": {"name": None}}, id="null-value"),
        pytest.param({"customer": None}, id="null-parent"),
    ],
)
def test_missing_paths_are_ignored(pseudonymise, doc):
    result, replaced = pseudonymise.pseudonymise_fields(doc, FIELDS, b"k", "v1")
    assert result == doc and replaced == []


@pytest.mark.parametrize("doc", ["plain text", None, 42, ["customer", {"name": "Ada"}]], ids=["str", "none", "int", "list"])
def test_non_dict_documents_are_untouched(pseudonymise, doc):
    result, replaced = pseudonymise.pseudonymise_fields(doc, FIELDS, b"k", "v1")
    assert result is doc and replaced == []


def test_non_string_values_get_a_canonical_token(pseudonymise):
    # An object-valued field maps to one token whatever its key order.
    first, _ = pseudonymise.pseudonymise_fields({"customer": {"name": {"a": 1, "b": 2}}}, FIELDS, b"k", "v1")
    second, _ = pseudonymise.pseudonymise_fields({"customer": {"name": {"b": 2, "a": 1}}}, FIELDS, b"k", "v1")
    assert first == second and PSEUDONYM.fullmatch(first["customer"]["name"])


@settings(max_examples=100, deadline=None)
@given(value=st.text(min_size=1), key=st.binary(min_size=1, max_size=64))
def test_raw_value_never_survives_pseudonymisation(pseudonymise, value, key):
    result, replaced = pseudonymise.pseudonymise_fields({"customer": {"email": value}}, FIELDS, key, "v1")
    assert replaced == ["customer.email"]
    assert PSEUDONYM.fullmatch(result["customer"]["email"])
    assert result["customer"]["email"] == "pseudo:v1:" + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


# --------------------------------------------------------------------------- ledger consumer


@pytest.fixture
def consumer(aws_credentials, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "ledger_consumer")
    monkeypatch.setenv("IDEMPOTENCY_TABLE_NAME", "handled")
    monkeypatch.delenv("POWERTOOLS_IDEMPOTENCY_DISABLED", raising=False)
    with mock_aws():
        boto3.client("dynamodb").create_table(
            TableName="handled",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        module = _load("ledger_consumer_handler", CONSUMER_DIR, monkeypatch)
        yield module, _capture_logs(module)


def domain_event(event_id: str = "evt-1", transaction_id: str | None = "t" * 64, **detail) -> dict:
    body = {"body_sha256": "ab" * 32, "message_id": "m-1",
            "transaction": {"customer": {"name": "pseudo:v1:" + "0" * 64}}, **detail}
    if transaction_id is not None:
        body["transaction_id"] = transaction_id
    return {"version": "0", "id": event_id, "detail-type": "TransactionRecorded", "source": "app.payments",
            "account": "222222222222", "time": "2026-11-22T15:00:00Z", "region": "us-east-1", "resources": [],
            "detail": body}


def _lines(logs, message: str) -> list[dict]:
    return [line for line in iter_json_lines(logs.getvalue()) if line.get("message") == message]


def test_ledger_consumer_logs_each_event_as_one_json_line(consumer):
    module, logs = consumer
    event = domain_event()
    result = module.lambda_handler(event, LambdaContext(function_name="ledger-consumer"))
    assert result == {"event_id": "evt-1", "duplicate": False}
    (line,) = _lines(logs, "domain event received")
    assert line["detail_type"] == "TransactionRecorded"
    assert line["source"] == "app.payments"
    assert line["origin_account"] == "222222222222"
    assert line["region"] == "us-east-1"
    assert line["event_id"] == "evt-1"
    assert line["transaction_id"] == "t" * 64
    assert line["body_sha256"] == "ab" * 32
    assert line["detail"] == event["detail"]
    assert line["service"] == "ledger_consumer"


def test_ledger_consumer_tolerates_a_non_object_detail(consumer):
    module, logs = consumer
    event = {"version": "0", "id": "evt-2", "detail-type": "Other", "source": "s", "account": "1" * 12,
             "time": "t", "region": "us-east-1", "resources": [], "detail": "text"}
    assert module.lambda_handler(event, LambdaContext()) == {"event_id": "evt-2", "duplicate": False}
    (line,) = _lines(logs, "domain event received")
    assert line["detail"] == {} and line.get("body_sha256") is None  # Powertools drops None fields


def test_ledger_handles_a_transaction_once_whatever_the_event_ids_of_its_copies(consumer):
    # A producer that timed out after PutEvents publishes again: a new event id, the same
    # transaction_id. EventBridge may also deliver one event twice. The ledger acts once.
    module, logs = consumer
    first = module.lambda_handler(domain_event("evt-a"), LambdaContext(aws_request_id="req-1"))
    again = module.lambda_handler(domain_event("evt-a"), LambdaContext(aws_request_id="req-2"))
    republished = module.lambda_handler(domain_event("evt-b"), LambdaContext(aws_request_id="req-3"))
    assert [first["duplicate"], again["duplicate"], republished["duplicate"]] == [False, True, True]
    assert [line["event_id"] for line in _lines(logs, "domain event received")] == ["evt-a"]
    handled = _lines(logs, "domain event already handled")
    assert [(h["event_id"], h["first_event_id"]) for h in handled] == [("evt-a", "evt-a"), ("evt-b", "evt-a")]
    assert all("body_sha256" not in h for h in handled)  # a duplicate never reads as a second delivery


def test_ledger_keys_other_producers_events_by_event_id(consumer):
    module, logs = consumer
    module.lambda_handler(domain_event("evt-x", transaction_id=None), LambdaContext(aws_request_id="r1"))
    module.lambda_handler(domain_event("evt-y", transaction_id=None), LambdaContext(aws_request_id="r2"))
    module.lambda_handler(domain_event("evt-x", transaction_id=None), LambdaContext(aws_request_id="r3"))
    assert [line["event_id"] for line in _lines(logs, "domain event received")] == ["evt-x", "evt-y"]


# --------------------------------------------------------------------------- the pipe's enrichment

ENRICHER_DIR = PROJECT_ROOT / "lambda" / "transaction_enricher"


@dataclass
class _Context:
    function_name: str = "enricher"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:222222222222:function:enricher"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))


def test_enricher_adds_validation_beside_the_untouched_body(monkeypatch):
    enricher = _load("enricher_under_test", ENRICHER_DIR, monkeypatch)
    _capture_logs(enricher)
    bodies = ['{ "amount": 1 }\n', "not json \u2028 at all", "[1, 2]"]
    batch = [{"messageId": f"m-{i}", "body": b, "eventSource": "aws:sqs"} for i, b in enumerate(bodies)]
    enriched = enricher.lambda_handler(copy.deepcopy(batch), _Context())
    assert [r["body"] for r in enriched] == bodies  # the very strings sent
    assert [{k: v for k, v in r.items() if k != "validation"} for r in enriched] == batch
    assert [r["validation"]["body_is_json_object"] for r in enriched] == [True, False, False]
    assert [r["validation"]["body_bytes"] for r in enriched] == [len(b.encode()) for b in bodies]


def test_enricher_refuses_a_record_without_a_string_body(monkeypatch):
    enricher = _load("enricher_under_test", ENRICHER_DIR, monkeypatch)
    _capture_logs(enricher)
    with pytest.raises(enricher.InvalidRecord):
        enricher.lambda_handler([{"messageId": "m", "body": {"not": "a string"}}], _Context())
