"""The ingress pipe's enrichment, switched on by configuration (``pipeline.pipe_enrichment``
in config/*.json; infra/constructs/sqs_to_bus_pipe.py wires it, with no local branch):
lambda/transaction_enricher validates each record and adds ``validation`` beside the
body, which reaches the recorder's log line byte for byte.

"EventBridge Pipes passes the enrichment responses directly to the configured target"
(https://docs.aws.amazon.com/eventbridge/latest/userguide/pipes-enrichment.html).
"""

from __future__ import annotations

import hashlib
import json
import uuid

import pytest

from infra.config import load_config

from .helpers import RECORDED_WITHIN_S, send_ok

pytestmark = pytest.mark.integration


@pytest.mark.skipif(not load_config().pipeline.pipe_enrichment, reason="the configuration has no pipe enrichment")
@pytest.mark.parametrize("body, is_json_object", [
    ('{ "id": "%s",  "amount": 1.50, "note": "caf\\u00e9" }\n', True),
    ("plain text \u00fc %s", False),
])
def test_enrichment_adds_its_field_beside_the_untouched_body(tx, body, is_json_object):
    body = body % uuid.uuid4()
    accepted = send_ok(tx, body, "application/json" if is_json_object else "text/plain; charset=utf-8")
    sha = hashlib.sha256(body.encode("utf-8")).hexdigest()
    lines = tx.recorded(sha, accepted.sent_at_ms, timeout=RECORDED_WITHIN_S)
    assert lines, f"no 'transaction recorded' line for {sha}"
    record = lines[0][1]
    assert (record["body"], record["body_sha256"]) == (body, sha)
    assert record["validation"] == {"validator": "transaction-enricher/v1", "body_bytes": len(body.encode("utf-8")),
                                    "body_is_json_object": is_json_object}
    assert json.dumps(record["body"], ensure_ascii=False)  # the body is still the string sent
