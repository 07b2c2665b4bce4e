"""Helpers of the integration suite. Imported first by conftest.py: the endpoint settings
below must be in the environment before ops.environment reads them at import time."""

from __future__ import annotations

import http.client
import os
import sys
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

DEFAULT_ENDPOINT = "http://127.0.0.1:4566"
ENDPOINT = os.environ.get("AWS_ENDPOINT_URL", DEFAULT_ENDPOINT).rstrip("/")
_parsed = urllib.parse.urlsplit(ENDPOINT)
SCHEME = _parsed.scheme
HOST = _parsed.hostname or "127.0.0.1"
PORT = _parsed.port or (443 if SCHEME == "https" else 80)

# A local cloud on another port than 4566 has a home and an outputs file of its own
# (localcloud.settings and ops.environment derive them from the port).
import ops.environment as environment  # noqa: E402

PIPELINE = "PaymentsTransactionPipeline"


def now_ms() -> int:
    return int(time.time() * 1000)


def raw_request(method: str, path: str, body: bytes | None = None, headers: dict | None = None,
                timeout: float = 30) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body bytes) of one HTTP request to the endpoint; ``path`` is sent as is,
    and a ``Host`` header in ``headers`` replaces the default one."""
    connection = http.client.HTTPConnection(HOST, PORT, timeout=timeout)
    try:
        headers = dict(headers or {})
        host = next((headers.pop(k) for k in list(headers) if k.lower() == "host"), None)
        connection.putrequest(method, path, skip_host=host is not None, skip_accept_encoding=True)
        if host is not None:
            connection.putheader("Host", host)
        for name, value in headers.items():
            connection.putheader(name, value)
        if body is not None or method in ("POST", "PUT", "PATCH"):
            connection.putheader("Content-Length", str(len(body or b"")))
        connection.endheaders(body or None)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def api_path(outputs: dict, path: str = "/") -> str:
    """The HTTP API's path on the endpoint, in the LocalStack path form."""
    return f"/_aws/execute-api/{outputs[PIPELINE]['ApiId']}{path}"


def messages_since(logs_client, group: str, since_ms: int) -> list[str]:
    """Every line (raw text, JSON or not) in log group ``group`` since ``since_ms``."""
    kwargs = {"logGroupName": group, "startTime": since_ms}
    found = []
    while True:
        page = logs_client.filter_log_events(**kwargs)
        found.extend(event.get("message", "") for event in page.get("events", []))
        if not page.get("nextToken"):
            return found
        kwargs["nextToken"] = page["nextToken"]


def wait_until(condition: Callable[[], object], timeout: float, interval: float = 0.1):
    """The first truthy value of ``condition()`` within ``timeout`` seconds, else the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)
