"""Fixtures of the console's tests: the session's local cloud (tests/localcloud/conftest.py)
with the console's token, an app built for these tests (orders_app.py), and a real
browser: Debian's Chromium, headless, driven by Playwright, on a fresh profile with the
network features that would call out switched off. A failed browser test leaves a
screenshot of its page in the test's output folder."""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from localcloud.console.access import cookie_name, form_key, read_token

from .orders_app import OrdersApp

CHROMIUM = os.environ.get("CONSOLE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
HOW_TO_INSTALL = ("needs Debian's chromium at /usr/bin/chromium: `apt-get install chromium` as root "
                  "(`make test` does it when run as root), and Playwright from `make install`")


@dataclass
class Console:
    endpoint: str
    port: int
    token: str

    @property
    def base(self) -> str:
        return f"{self.endpoint}/_localcloud/"

    @property
    def key(self) -> str:
        return form_key(self.token)

    def request(self, path: str, *, cookie: str | None = "token", data: dict | None = None,
                follow: bool = False) -> tuple[int, dict, str]:
        """(status, headers, body) of one request to the console, with its cookie unless told otherwise."""
        headers = {}
        if cookie:
            headers["cookie"] = f"{cookie_name(self.port)}={self.token if cookie == 'token' else cookie}"
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(self.base + path, data=body, headers=headers)
        opener = urllib.request.build_opener() if follow else urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(request, timeout=60) as response:
                return response.status, dict(response.headers), response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read().decode()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@pytest.fixture(scope="session")
def console(localcloud) -> Console:
    token = read_token(localcloud.home)
    assert token, f"the local cloud wrote no console token in {localcloud.home}"
    return Console(localcloud.endpoint, localcloud.port, token)


@pytest.fixture(scope="session")
def orders(aws) -> OrdersApp:
    return OrdersApp(aws).build()


def post_order(localcloud, orders: OrdersApp, body: str) -> int:
    """POST an order to the app's HTTP API; the time it was sent (ms)."""
    sent_ms = int(time.time() * 1000)
    request = urllib.request.Request(localcloud.execute_api_url(orders.arns["api_id"]), data=body.encode(),
                                     headers={"content-type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200, response.read()
        assert json.loads(response.read())["SendMessageResponse"]["SendMessageResult"]["MessageId"]
    return sent_ms


# --- the browser ------------------------------------------------------------------------


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture(scope="session")
def chromium_browser(tmp_path_factory):
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        pytest.skip(HOW_TO_INSTALL)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip(HOW_TO_INSTALL)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_FLAGS, viewport={"width": 1280, "height": 900})
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(chromium_browser, console, request, tmp_path):
    """A browser tab that holds the console's cookie; its screenshot lands in the test's
    output folder when the test fails."""
    tab = chromium_browser.new_page()
    tab.set_default_timeout(30_000)
    tab.goto(f"{console.base}?token={console.token}")
    yield tab
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        shot = tmp_path / "failure.png"
        tab.screenshot(path=str(shot), full_page=True)
        print(f"screenshot of the failed page: {shot}")
    tab.close()
