"""`make send` on the deployed pipeline: one transaction followed through every hop by the
console's journey (the same code draws it in the browser), and the console URL it prints
opens that journey, which says every hop passed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
import uuid

import pytest

from .helpers import ENDPOINT, PROJECT_ROOT
from localcloud.__main__ import health  # noqa: E402

pytestmark = pytest.mark.integration


def test_make_send_follows_a_transaction_through_every_hop_and_links_its_journey(cfg):
    body = json.dumps({"amount": 7, "currency": "EUR", "id": str(uuid.uuid4()),
                       "customer": {"name": "Ada Lovelace", "email": "ada@example.com"}})
    result = subprocess.run([sys.executable, "-m", "ops.send", "--body", body], cwd=PROJECT_ROOT, env=dict(os.environ),
                            capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "every hop passed" in lines
    hops = [line for line in lines if re.match(r"  (ok|passed) ", line)]
    for account, region in [(cfg.transaction_pipeline_app.account, cfg.transaction_pipeline_app.region),
                            (cfg.backbone.account, cfg.backbone.region), (cfg.backbone.account, cfg.second_region),
                            (cfg.application("ledger").account, cfg.application("ledger").region)]:
        assert any(f"({account}/{region})" in hop for hop in hops), (account, region, result.stdout)
    for kind in ("HTTP API", "SQS queue", "pipe", "event bus", "rule", "state machine", "Lambda", "log group"):
        assert any(f" {kind} " in hop for hop in hops), (kind, result.stdout)

    link = lines[-1]
    if not (health(ENDPOINT) or {}).get("extensions"):
        pytest.skip("not this project's local cloud: it serves no console")
    url = link.removeprefix("console, this journey: ")
    assert url.startswith(f"{ENDPOINT}/_localcloud/journey?sha="), link
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    with opener.open(url, timeout=30) as page:  # the token becomes a cookie, the page loads its journey part
        source = re.search(r'data-src="([^"]+)"', page.read().decode()).group(1).replace("&amp;", "&")
    with opener.open(ENDPOINT + source, timeout=60) as part:
        assert "Every hop passed." in part.read().decode()
