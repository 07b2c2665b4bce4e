"""What the HTTP API does with unusual or invalid input, and that nothing is half-delivered.

Every case gets API Gateway's documented answer (status and body). A refused request
leaves no trace: no "transaction recorded" line for its body's SHA-256 and nothing new on
the ingress queue, which is asserted only after a later good transaction went all the way
through (test_transaction_pipeline's follower check). An accepted one arrives byte for byte.

test_transaction_pipeline already covers an empty body, an ASCII body one byte over 256 KiB,
GET / and POST /nope; the cases here are the ones it does not.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from .helpers import NOT_FOUND, PIPELINE, api_path, assert_nothing_delivered, ingress_depths, now_ms, raw_request

pytestmark = pytest.mark.integration

RECORDED_WITHIN_S = 20
SQS_MAX_BYTES = 262_144  # our queue's MaximumMessageSize
STATES_MAX_INPUT_BYTES = 262_144  # Step Functions: an execution's input


def _sha(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _post(outputs, body: bytes | None, headers: dict | None = None, method: str = "POST", path: str = "/"):
    return raw_request(method, api_path(outputs, path), body, headers if headers is not None else
                       {"content-type": "application/json"})


def _assert_delivered_intact(tx, body: bytes, status: int, raw: bytes, since_ms: int) -> dict:
    assert status == 200, raw[:300]
    result = json.loads(raw)["SendMessageResponse"]["SendMessageResult"]
    assert result["MD5OfMessageBody"] == hashlib.md5(body).hexdigest()
    lines = tx.recorded(_sha(body), since_ms, timeout=RECORDED_WITHIN_S)
    assert len(lines) == 1, f"{len(lines)} 'transaction recorded' lines for sha {_sha(body)}"
    record = lines[0][1]
    assert record["body"].encode("utf-8") == body
    assert record["message_id"] == result["MessageId"]
    return record


def _assert_none_delivered(tx, aws, payments, outputs, shas: list[str], since_ms: int, depths_before: dict) -> None:
    """The suite's follower check for the first sha; by then the others had as long to show up."""
    assert_nothing_delivered(tx, aws("sqs", payments.account, payments.region), outputs, shas[0], since_ms,
                              depths_before)
    for sha in shas[1:]:
        assert tx.recorded(sha, since_ms, timeout=0) == [], sha


def _refused_with(raw: bytes, code: str) -> None:
    assert json.loads(raw)["Error"]["Code"] == code, raw[:300]


# --------------------------------------------------------------------------- valid input, however unusual


def _nested(depth: int, marker: str) -> str:
    return '{"id": "%s", "n": ' % marker + "[" * depth + '"bottom"' + "]" * depth + "}"


def _accepted_cases() -> dict[str, tuple[dict | None, bytes]]:
    marker = str(uuid.uuid4())
    return {
        # The API does not validate JSON, whatever the content type claims.
        "not-json-as-json": ({"content-type": "application/json"}, f'{{"id": "{marker}", unterminated'.encode()),
        "octet-stream": ({"content-type": "application/octet-stream"}, f"plain text sent as octets {marker}".encode()),
        # Must not be form-decoded: '+', '%C3%A9' and '&' stay as sent.
        "form-urlencoded": ({"content-type": "application/x-www-form-urlencoded"},
                            f"id={marker}&amount=12.50&note=caf%C3%A9+%26+more".encode()),
        # Must not be transcoded from the declared charset: the bytes are UTF-8 and stay so.
        "declared-latin-1": ({"content-type": "text/plain; charset=iso-8859-1"}, f"über 100 € {marker}".encode()),
        "no-content-type": ({}, json.dumps({"id": marker, "content-type": None}).encode()),
        "nested-200-levels": ({"content-type": "application/json"}, _nested(200, marker).encode()),
        "crlf-and-tabs": ({"content-type": "text/plain"}, f"line 1\r\nline 2\n\tindented {marker}\r\n".encode()),
    }


@pytest.mark.parametrize("case", list(_accepted_cases()))
def test_unusual_but_valid_bodies_are_accepted_and_delivered_byte_identical(tx, outputs, case):
    headers, body = _accepted_cases()[case]
    if case == "nested-200-levels":
        json.loads(body)
    since = now_ms()

    status, _, raw = _post(outputs, body, headers)

    _assert_delivered_intact(tx, body, status, raw, since)


def _rule_dead_letter(aws, payments, outputs, body: bytes, timeout: float = RECORDED_WITHIN_S) -> dict | None:
    """The message the transaction rule dead-lettered for ``body`` (its event), if any."""
    sqs = aws("sqs", payments.account, payments.region)
    url = outputs[PIPELINE]["RuleDeadLetterQueueUrl"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                           MessageAttributeNames=["All"]).get("Messages", []):
            event = json.loads(message["Body"])
            if (event.get("detail") or {}).get("body", "").encode() == body:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                return message
    return None


def test_the_largest_body_recorded_end_to_end_is_256_kib_less_the_event_around_it(tx, aws, payments, outputs, say):
    """The binding limit is Step Functions': an execution's input, the whole event (envelope,
    the pipe's SQS record, the body as a JSON string), may hold 262,144 bytes
    (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html). SQS (256 KiB,
    our queue), the HTTP API (10 MB) and PutEvents (1 MB since 2026-01) all allow more. A
    bigger event is refused when the rule starts the workflow and lands, whole, on the
    rule's dead-letter queue: never recorded, never lost."""
    marker = f'{{"id": "{uuid.uuid4()}", "padding": "'.encode()

    def ascii_body(size: int) -> bytes:
        return marker + b"x" * (size - len(marker) - 2) + b'"}'

    # The biggest body the API takes (SQS's 256 KiB) cannot fit: its event is dead-lettered.
    biggest = ascii_body(SQS_MAX_BYTES)
    since = now_ms()
    status, _, raw = _post(outputs, biggest)
    assert status == 200, raw[:300]
    dead = _rule_dead_letter(aws, payments, outputs, biggest)
    assert dead, "the event of a 256 KiB body was neither started nor dead-lettered"
    assert dead["MessageAttributes"]["ERROR_CODE"]["StringValue"] == "ValidationException"
    assert tx.recorded(_sha(biggest), since, timeout=0) == []
    around = len(dead["Body"].encode()) - len(biggest)  # the event besides the body (its quotes escaped)

    largest = ascii_body(STATES_MAX_INPUT_BYTES - around)
    say(f"largest body recorded end to end: {len(largest)} bytes ({around} bytes of event around it)")
    since = now_ms()
    status, _, raw = _post(outputs, largest)
    _assert_delivered_intact(tx, largest, status, raw, since)

    one_more = ascii_body(len(largest) + 1)
    status, _, raw = _post(outputs, one_more)
    assert status == 200, raw[:300]
    assert _rule_dead_letter(aws, payments, outputs, one_more), "one byte more was not dead-lettered"
    assert tx.recorded(_sha(one_more), since, timeout=0) == []


# --------------------------------------------------------------------------- refused input


def test_a_body_over_256_kib_in_bytes_but_not_in_characters_is_refused_and_not_delivered(tx, aws, payments, outputs):
    depths_before = ingress_depths(aws("sqs", payments.account, payments.region), outputs)
    head = f'{{"id": "{uuid.uuid4()}", "note": "€€€", "padding": "'.encode()
    body = head + b"x" * (SQS_MAX_BYTES + 1 - len(head) - 2) + b'"}'
    assert len(body) == SQS_MAX_BYTES + 1 and len(body.decode()) < SQS_MAX_BYTES
    since = now_ms()

    status, _, raw = _post(outputs, body)

    assert status == 400, raw[:300]
    assert json.loads(raw)["Error"]["Code"]
    _assert_none_delivered(tx, aws, payments, outputs, [_sha(body)], since, depths_before)


INVALID_UTF8 = {
    "bare-continuation-bytes": b"\x80\x81",
    "latin-1-bytes": "Zahlung über 100 €".encode("latin-1", "replace").replace(b"?", b"\xa4"),
    "overlong-slash": b"\xc0\xaf",
    "encoded-surrogate": b"\xed\xa0\x80",
    "truncated-euro-sign": b"\xe2\x82",
    "bom-of-utf-16": b"\xff\xfe{\x00}\x00",
}


def test_invalid_utf8_bodies_are_refused_and_not_delivered(tx, aws, payments, outputs):
    depths_before = ingress_depths(aws("sqs", payments.account, payments.region), outputs)
    since = now_ms()
    shas = []
    for name, invalid in INVALID_UTF8.items():
        body = f'{{"id": "{uuid.uuid4()}", "case": "{name}", "bad": "'.encode() + invalid + b'"}'
        with pytest.raises(UnicodeDecodeError):
            body.decode("utf-8")

        status, _, raw = _post(outputs, body)

        assert 400 <= status < 500, (name, status, raw[:300])
        _refused_with(raw, "InvalidMessageContents")
        shas.append(_sha(body))
    _assert_none_delivered(tx, aws, payments, outputs, shas, since, depths_before)


UNROUTED = [("PUT", "/"), ("DELETE", "/"), ("PATCH", "/"), ("GET", "/nope"), ("POST", "/nope/deeper"),
            ("POST", "/index.html")]


def test_unrouted_methods_and_paths_get_404_not_found_and_deliver_nothing(tx, aws, payments, outputs):
    depths_before = ingress_depths(aws("sqs", payments.account, payments.region), outputs)
    since = now_ms()
    shas, answers = [], {}
    for method, path in UNROUTED:
        body = json.dumps({"id": str(uuid.uuid4()), "method": method, "path": path}).encode()
        status, _, raw = _post(outputs, body, method=method, path=path)
        answers[f"{method} {path}"] = (status, raw)
        shas.append(_sha(body))

    assert answers == {route: (404, NOT_FOUND) for route in answers}
    _assert_none_delivered(tx, aws, payments, outputs, shas, since, depths_before)


def test_a_16_kb_header_gets_a_clean_answer_and_no_partial_delivery(tx, aws, payments, outputs, say):
    depths_before = ingress_depths(aws("sqs", payments.account, payments.region), outputs)
    body = json.dumps({"id": str(uuid.uuid4()), "case": "16 KB header"}).encode()
    since = now_ms()

    # A clean HTTP answer either way: raw_request raises if the connection is dropped instead.
    status, _, raw = _post(outputs, body, {"content-type": "application/json", "x-padding": "p" * 16 * 1024})

    say(f"16 KB header value: HTTP {status} {raw[:120]!r}")
    if status == 200:
        _assert_delivered_intact(tx, body, status, raw, since)
    else:
        assert 400 <= status < 500, (status, raw[:300])
        _assert_none_delivered(tx, aws, payments, outputs, [_sha(body)], since, depths_before)


# --------------------------------------------------------------------------- any text at all


def _sqs_allows(character: str) -> bool:
    """SQS message bodies: #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF."""
    point = ord(character)
    return character in "\t\n\r" or 0x20 <= point <= 0xD7FF or 0xE000 <= point <= 0xFFFD or point >= 0x10000


REFUSED_BY_SQS = ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1f", "\ufffe", "\uffff"]
CHARACTERS = st.one_of(st.characters(exclude_categories=("Cs",)),  # no lone surrogates: not encodable as UTF-8
                       st.sampled_from(REFUSED_BY_SQS + ["\t", "\n", "\r", "\u2028", "\u00a0", "€", "🚀", "\ufeff"]))


def test_any_text_body_is_delivered_byte_identical_or_refused_whole(tx, aws, payments, outputs, say):
    depths_before = ingress_depths(aws("sqs", payments.account, payments.region), outputs)
    since = now_ms()
    refused, accepted = [], []

    @settings(max_examples=25, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(text=st.text(CHARACTERS, min_size=1, max_size=300))
    # Unicode line boundaries SQS accepts: a log pipeline splitting on them once cut the
    # recorder's line in two (found by this test, drawn at random).
    @example(text="a\u2028b")
    @example(text="a\u2029b")
    @example(text="a\x85b")
    def one_body(text: str) -> None:
        body = (text + f" {uuid.uuid4()}").encode("utf-8")  # unique, so each line is this example's
        sent_at = now_ms()
        status, _, raw = _post(outputs, body, {"content-type": "text/plain; charset=utf-8"})
        if all(_sqs_allows(c) for c in text):
            _assert_delivered_intact(tx, body, status, raw, sent_at)
            accepted.append(body)
        else:
            assert status == 400, (text, status, raw[:300])
            _refused_with(raw, "InvalidMessageContents")
            refused.append(_sha(body))

    one_body()

    say(f"hypothesis bodies: {len(accepted)} accepted and delivered intact, {len(refused)} refused")
    if refused:
        _assert_none_delivered(tx, aws, payments, outputs, refused, since, depths_before)
