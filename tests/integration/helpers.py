"""Helpers of the integration suite. Imported first by conftest.py: the endpoint settings
below must be in the environment before ops.environment reads them at import time."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import sys
import time
import uuid
import urllib.parse
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
from ops.transactions import wait_for as wait_until  # noqa: E402,F401  (one waiting loop, ops')

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


# --------------------------------------------------------------------------- shared by the test modules

RECORDED_WITHIN_S = 20
NOTHING_FOR_S = 3  # how long a rejected request gets to show up anyway, after a later one went through



NOT_FOUND = b'{"message":"Not Found"}'




def send_ok(tx, body: str, content_type: str = "application/json"):
    accepted = tx.post(body, headers={"content-type": content_type})
    assert accepted.status == 200, accepted.body
    result = accepted.body["SendMessageResponse"]["SendMessageResult"]
    assert result["MessageId"], accepted.body
    assert result["MD5OfMessageBody"] == hashlib.md5(body.encode("utf-8")).hexdigest()
    return accepted


def wait_for_function_update(lambda_client, function_name: str) -> dict:
    def done():
        configuration = lambda_client.get_function_configuration(FunctionName=function_name)
        return configuration if configuration.get("LastUpdateStatus", "Successful") != "InProgress" else None

    configuration = wait_until(done, 30, interval=0.2)
    assert configuration and configuration.get("LastUpdateStatus", "Successful") == "Successful", configuration
    return configuration


@contextlib.contextmanager
def recorder_cannot_publish(aws, payments, outputs):
    """The recorder pointed at a pseudonymisation secret that does not exist, so every
    attempt raises after logging its line; its configuration is restored on the way out."""
    lam = aws("lambda", payments.account, payments.region)
    function_name = outputs[PIPELINE]["RecorderFunctionName"]
    original = wait_for_function_update(lam, function_name)["Environment"]["Variables"]
    missing_secret = (f"arn:aws:secretsmanager:{payments.region}:{payments.account}:secret:"
                      f"it-missing-{uuid.uuid4().hex[:12]}-AbCdEf")
    try:
        lam.update_function_configuration(FunctionName=function_name, Environment={"Variables": {
            **original, "PSEUDONYMISATION_SECRET_ARN": missing_secret}})
        applied = wait_for_function_update(lam, function_name)["Environment"]["Variables"]
        assert applied["PSEUDONYMISATION_SECRET_ARN"] == missing_secret
        yield
    finally:
        lam.update_function_configuration(FunctionName=function_name, Environment={"Variables": original})
        wait_for_function_update(lam, function_name)


def take_dead_letter(sqs, queue_url: str, body: str, timeout: float) -> dict | None:
    """The dead-lettered message whose body is ``body`` (deleted from the queue), or None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                           VisibilityTimeout=2).get("Messages", []):
            if message["Body"] == body:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                return message
    return None


def ingress_depths(sqs, outputs) -> dict[str, int]:
    """Messages held (visible, in flight or delayed) by the ingress queue and its dead-letter queue."""
    depths = {}
    for name in ("IngressQueueUrl", "IngressDeadLetterQueueUrl"):
        attributes = sqs.get_queue_attributes(QueueUrl=outputs[PIPELINE][name], AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed",
        ])["Attributes"]
        depths[name] = sum(int(value) for value in attributes.values())
    return depths


def assert_nothing_delivered(tx, sqs, outputs, rejected_sha: str, since_ms: int, depths_before: dict) -> None:
    """A transaction sent after the rejected one goes all the way through; by then (and a
    little later) the rejected one has not been recorded and the ingress queues hold nothing new."""
    follower = json.dumps({"id": str(uuid.uuid4()), "after": "a rejected request"})
    follower_sent = send_ok(tx, follower)
    assert tx.recorded(tx.sha256_hex(follower), follower_sent.sent_at_ms, timeout=RECORDED_WITHIN_S)
    time.sleep(NOTHING_FOR_S)
    assert tx.recorded(rejected_sha, since_ms, timeout=0) == []
    after = ingress_depths(sqs, outputs)
    assert all(after[name] <= depths_before[name] for name in after), (depths_before, after)
