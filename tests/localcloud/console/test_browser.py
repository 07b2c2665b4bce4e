"""The console in a real browser (Debian's Chromium, headless, driven by Playwright): a
transaction sent from the page shows every hop of its journey; a transaction whose pipe
cannot deliver shows up in the dead letters, and a redrive from the page brings it
through. Set CONSOLE_SCREENSHOT=docs/console.png to write the README's picture."""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid

from localcloud.console.evidence import sha256_hex

from .conftest import post_order
from .orders_app import HUB, ORDERS, REGION, SECOND_REGION, SHIPPING

JOURNEY_TIMEOUT_MS = 60_000


def _hops(page) -> list[tuple[str, str, str, str]]:
    """(status, kind, name, account/region) of each hop on the page."""
    return [(row.locator(".badge").inner_text().lower(), row.get_attribute("data-kind"),
             row.locator(".name b").inner_text(), row.locator(".name .where").inner_text())
            for row in page.locator("li.hop").all()]


def test_a_transaction_sent_from_the_page_shows_every_hop(page, console, orders, tmp_path):
    body = json.dumps({"order": str(uuid.uuid4()), "items": ["tea"], "customer": {"name": "Ada"}})
    api = page.locator(f"#topology .node.api:has(b:text-is('{orders.name('orders-api')}'))")
    api.locator("textarea").fill(body)
    api.get_by_role("button", name="Send a test transaction").click()

    page.wait_for_url(re.compile(rf"/journey\?sha={sha256_hex(body)}"))
    page.wait_for_selector(".journey.ok", timeout=JOURNEY_TIMEOUT_MS)

    assert page.locator(".journey .summary").inner_text() == "Every hop passed."
    hops = _hops(page)
    n = orders.name
    for expected in [("api", n("orders-api"), f"{ORDERS}/{REGION}"), ("queue", n("orders"), f"{ORDERS}/{REGION}"),
                     ("pipe", n("orders-pipe"), f"{ORDERS}/{REGION}"), ("bus", n("orders-bus"), f"{ORDERS}/{REGION}"),
                     ("rule", n("order-received"), f"{ORDERS}/{REGION}"),
                     ("workflow", n("orders-flow"), f"{ORDERS}/{REGION}"),
                     ("function", n("record-order"), f"{ORDERS}/{REGION}"), ("bus", n("hub"), f"{HUB}/{REGION}"),
                     ("bus", n("shipping"), f"{SHIPPING}/{REGION}"), ("function", n("ship-order"), f"{SHIPPING}/{REGION}"),
                     ("bus", n("hub"), f"{HUB}/{SECOND_REGION}")]:
        assert any(h[1:] == expected for h in hops), (expected, hops)
    assert {h[0] for h in hops} <= {"ok", "passed"}, hops
    assert page.locator("li.hop.ok .at").first.inner_text().startswith("+")
    shot = tmp_path / "console.png"
    page.set_viewport_size({"width": 1280, "height": 900})
    page.screenshot(path=str(shot))
    if os.environ.get("CONSOLE_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["CONSOLE_SCREENSHOT"])


def test_a_dead_lettered_transaction_shows_its_dead_letter_and_a_redrive_brings_it_through(
        page, console, orders, localcloud):
    body = json.dumps({"order": str(uuid.uuid4()), "items": ["cake"]})
    sha = sha256_hex(body)
    orders.break_the_pipe()  # its PutEvents fails: records come back, and move to the dead-letter queue
    try:
        post_order(localcloud, orders, body)
        page.goto(f"{console.base}journey?sha={sha}")
        entry = page.locator(".dead-entry")
        entry.wait_for(timeout=JOURNEY_TIMEOUT_MS)
        assert orders.name("orders-dlq") in entry.inner_text()
        assert "Stopped: dead-lettered" in page.locator(".journey .summary").inner_text()
        queue = page.locator("li.hop[data-kind=queue]", has_text=orders.name("orders")).first
        assert "failed" in queue.get_attribute("class")
        assert f"moved to its dead-letter queue {orders.name('orders-dlq')} after 2 receives" in queue.inner_text()
        assert "not reached" in page.locator("li.hop[data-kind=pipe]").first.inner_text().lower()

        page.goto(console.base)  # the dead letters panel lists it, linked to its journey
        page.locator(f"#dead-letters a[href$='{sha}']").wait_for(timeout=JOURNEY_TIMEOUT_MS)
    finally:
        orders.mend_the_pipe()

    page.goto(f"{console.base}journey?sha={sha}")
    page.locator(".dead-entry").get_by_role("button", name="Redrive to source queue").click()
    assert "redrive of " in page.locator(".notice").inner_text()
    page.wait_for_selector(".journey.ok", timeout=JOURNEY_TIMEOUT_MS)
    statuses = {h[0] for h in _hops(page)}
    assert statuses <= {"ok", "passed"}, _hops(page)
    assert page.locator(".dead-entry").count() == 0
