"""Fixtures for the local cloud's own tests: one real local cloud per session.

The server is ``python -m localcloud serve`` in a subprocess, on a free loopback port
(never 4566, the developer's own local cloud, nor 4599), with its home in a pytest
temporary directory. Only that process is stopped at the end (SIGTERM, then wait).

Tests talk to it with boto3 clients from the ``aws`` factory; the access key id is the
account (``aws("sqs", account="333333333333", region="eu-west-1")``).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PYTHON = str(PROJECT_ROOT / ".venv" / "bin" / "python") if (PROJECT_ROOT / ".venv" / "bin" / "python").exists() \
    else sys.executable
RESERVED_PORTS = {4566, 4599}
START_TIMEOUT_S = 60

ACCOUNT_A = "222222222222"
ACCOUNT_B = "333333333333"
ACCOUNT_C = "111111111111"
REGION = "us-east-1"
OTHER_REGION = "eu-west-1"


def free_port() -> int:
    """A free TCP port on loopback, never one of the reserved ones."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port not in RESERVED_PORTS:
            return port


def health(endpoint: str, timeout: float = 1.0) -> dict | None:
    try:
        with urllib.request.urlopen(endpoint + "/_localcloud/health", timeout=timeout) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def server_env(port: int, home: Path, **extra: str) -> dict[str, str]:
    """The environment for a local cloud of our own: no inherited LOCALCLOUD_*/ministack
    settings (they would point at the developer's instance), no AWS credentials."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LOCALCLOUD_", "AWS_", "GATEWAY_", "MINISTACK_", "PERSIST_", "STATE_DIR", "S3_"))}
    env.update({
        "LOCALCLOUD_PORT": str(port),
        "LOCALCLOUD_HOME": str(home),
        "LOCALCLOUD_PERSIST": "0",
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra)
    return env


def wait_healthy(endpoint: str, process: subprocess.Popen | None, log: Path | None,
                 timeout: float = START_TIMEOUT_S) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise RuntimeError(f"local cloud exited with {process.returncode} during start:\n{tail}")
        found = health(endpoint, timeout=0.5)
        if found:
            return found
        time.sleep(0.05)
    raise RuntimeError(f"local cloud on {endpoint} not healthy within {timeout} s")


def stop_process(process: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM exactly this process, wait; SIGKILL only if it ignores that."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


@dataclass
class LocalCloud:
    endpoint: str
    port: int
    home: Path
    log: Path
    process: subprocess.Popen
    health: dict

    def execute_api_url(self, api_id: str, path: str = "/") -> str:
        return f"{self.endpoint}/_aws/execute-api/{api_id}{path}"

    def execute_api_host(self, api_id: str) -> str:
        return f"{api_id}.execute-api.localhost.localstack.cloud:{self.port}"


@contextmanager
def own_local_cloud(home: Path, **env: str) -> Iterator[LocalCloud]:
    """A local cloud of its own on a free port, with ``env`` on top of a clean environment;
    stopped (by its PID) when the block ends."""
    port = free_port()
    log = home / "serve.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [PYTHON, "-m", "localcloud", "serve"], cwd=PROJECT_ROOT, env=server_env(port, home, **env),
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        found = wait_healthy(endpoint, process, log)
        yield LocalCloud(endpoint=endpoint, port=port, home=home, log=log, process=process, health=found)
    finally:
        stop_process(process)


@pytest.fixture(scope="session")
def localcloud(tmp_path_factory) -> LocalCloud:
    with own_local_cloud(tmp_path_factory.mktemp("localcloud-home")) as cloud:
        yield cloud


ClientFactory = Callable[..., object]


@pytest.fixture(scope="session")
def aws(localcloud) -> ClientFactory:
    """boto3 clients for (service, account, region) against the session's local cloud."""
    cache: dict[tuple[str, str, str], object] = {}
    config = Config(inject_host_prefix=False, retries={"max_attempts": 1, "mode": "standard"},
                    connect_timeout=5, read_timeout=60)

    def client(service: str, account: str = ACCOUNT_A, region: str = REGION):
        key = (service, account, region)
        if key not in cache:
            cache[key] = boto3.session.Session().client(
                service, endpoint_url=localcloud.endpoint, region_name=region,
                aws_access_key_id=account, aws_secret_access_key="test", config=config,
            )
        return cache[key]

    return client


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Names unique to one test (the server is shared by the whole session)."""
    token = uuid.uuid4().hex[:8]
    return lambda prefix: f"{prefix}-{token}"


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.05):
    """Poll ``predicate`` until it returns something truthy; return it (or the last falsy value)."""
    deadline = time.monotonic() + timeout
    result = predicate()
    while not result and time.monotonic() < deadline:
        time.sleep(interval)
        result = predicate()
    return result


def drain(sqs, queue_url: str, expected: int | None = None, timeout: float = 10.0, quiet: float = 0.0) -> list[dict]:
    """Receive (and delete) messages until ``expected`` arrived (then listen ``quiet`` s
    more for extras) or ``timeout`` passed; with ``expected`` None, until nothing arrived
    for ``quiet`` s (or ``timeout``)."""
    messages: list[dict] = []
    deadline = time.monotonic() + timeout
    last = time.monotonic()
    while time.monotonic() < deadline:
        enough = expected is not None and len(messages) >= expected
        if (enough or expected is None) and quiet and time.monotonic() - last >= quiet:
            break
        if enough and not quiet:
            break
        long_poll = expected is not None and not enough
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1 if long_poll else 0,
                                  AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])
        if got:
            last = time.monotonic()
            messages.extend(got)
            sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])
        elif not long_poll:
            time.sleep(0.05)
    return messages


def queue_arn(sqs, queue_url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def queue_depth(sqs, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


@pytest.fixture
def observer(aws, unique):
    """A bus rule -> SQS queue, to observe what reaches a bus: ``observer(bus, account, region,
    pattern=...)`` returns the queue URL; events the rule matches land there."""

    def make(bus_name: str, account: str = ACCOUNT_A, region: str = REGION, *, pattern: dict) -> str:
        sqs, events = aws("sqs", account, region), aws("events", account, region)
        name = unique(f"obs-{bus_name[-12:]}")
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        rule_arn = events.put_rule(Name=name, EventBusName=bus_name, EventPattern=json.dumps(pattern))["RuleArn"]
        allow_rule_to_send(sqs, url, rule_arn)
        events.put_targets(Rule=name, EventBusName=bus_name,
                           Targets=[{"Id": "q", "Arn": queue_arn(sqs, url)}])
        return url

    return make


# --- permissions AWS requires (strict IAM is the local cloud's default) -----------------------------


def allow(actions: str | list[str], resources: str | list[str]) -> dict:
    return {"Effect": "Allow", "Action": actions, "Resource": resources}


def allow_service_to_send(sqs, queue_url: str, service: str, source_arn: str) -> None:
    """The queue policy an AWS ``service`` needs to deliver to a queue on behalf of
    ``source_arn`` (an EventBridge rule, an SNS topic), as CDK writes it."""
    arn = queue_arn(sqs, queue_url)
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": service}, "Action": "sqs:SendMessage",
            "Resource": arn, "Condition": {"ArnEquals": {"aws:SourceArn": source_arn}}}]})})


def allow_rule_to_send(sqs, queue_url: str, rule_arn: str) -> None:
    """The queue policy an EventBridge rule needs to deliver to a queue (what CDK's SqsQueue target adds)."""
    allow_service_to_send(sqs, queue_url, "events.amazonaws.com", rule_arn)


def allow_events_to_log_group(logs, group_arn: str) -> None:
    """The CloudWatch Logs resource policy EventBridge needs to write to a log group (CDK adds one)."""
    logs.put_resource_policy(policyName=f"events-{uuid.uuid4().hex[:8]}", policyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": ["events.amazonaws.com", "delivery.logs.amazonaws.com"]},
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": f"{group_arn}:*"}]}))


def sigv4_headers(method: str, url: str, body: bytes, service: str, headers: dict | None = None,
                  account: str = ACCOUNT_A, secret: str = "test", region: str = REGION) -> dict:
    """``headers`` plus a SigV4 signature as ``account``'s root, for tests that send raw HTTP
    (strict IAM checks the signature before anything else, as AWS does)."""
    from botocore.auth import S3SigV4Auth, SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    signer = S3SigV4Auth if service == "s3" else SigV4Auth
    signer(Credentials(account, secret), service, region).add_auth(request)
    return dict(request.headers)


def create_role(iam, name: str, services: list[str], statements: list[dict]) -> str:
    """An IAM role the AWS ``services`` may assume, allowed exactly ``statements``; its ARN."""
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": services}, "Action": "sts:AssumeRole"}]}
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="least-privilege",
                        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}))
    return arn


@pytest.fixture
def role(aws):
    """role(service, statements, account=ACCOUNT_A) -> ARN of a new IAM role that ``service``
    (e.g. "pipes.amazonaws.com") may assume, allowed exactly ``statements``."""

    def make(service: str, statements: list[dict], account: str = ACCOUNT_A) -> str:
        return create_role(aws("iam", account), f"{service.split('.')[0]}-{uuid.uuid4().hex[:10]}", [service],
                           statements)

    return make
