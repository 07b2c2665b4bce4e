"""Shared pieces of the Pipes tests: least-privilege execution roles, Lambda functions,
local HTTP endpoints, pipe states and pipe log records."""

from __future__ import annotations

import io
import json
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ..conftest import ACCOUNT_A, allow, create_role, queue_arn, wait_for

TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "pipes.amazonaws.com"},
                                                 "Action": "sts:AssumeRole"}]}


@pytest.fixture(scope="session", autouse=True)
def roles_the_tests_name(aws):
    """The roles the functions, state machines and delivery streams of these tests name
    (strict IAM refuses a role that does not exist, and acts as the one that does)."""
    iam = aws("iam")
    create_role(iam, "fn", ["lambda.amazonaws.com"], [
        allow(["logs:CreateLogStream", "logs:PutLogEvents"], f"arn:aws:logs:*:{ACCOUNT_A}:log-group:/aws/lambda/*")])
    create_role(iam, "sm", ["states.amazonaws.com"], [
        allow("lambda:InvokeFunction", f"arn:aws:lambda:*:{ACCOUNT_A}:function:*")])
    create_role(iam, "fh", ["firehose.amazonaws.com"], [allow(["s3:PutObject", "s3:GetBucketLocation"], "*")])


@pytest.fixture
def pipe_role(aws, unique):
    """``pipe_role({action: resource, ...})``: a role pipes.amazonaws.com may assume, allowed
    exactly those actions (the Pipes user guide's execution-role permissions)."""
    iam = aws("iam")
    counter = iter(range(1000))

    def make(grants: dict[str, str | list[str]], account: str = ACCOUNT_A) -> str:
        name = unique(f"pipe-role-{next(counter)}")
        client = aws("iam", account)
        arn = client.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
        statements = [{"Effect": "Allow", "Action": action.split(","), "Resource": resource}
                      for action, resource in grants.items()]
        client.put_role_policy(RoleName=name, PolicyName="pipe",
                               PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}))
        return arn

    del iam
    return make


def sqs_source_grants(source_arn: str) -> dict:
    return {"sqs:ReceiveMessage,sqs:DeleteMessage,sqs:GetQueueAttributes": source_arn}


@pytest.fixture
def queue(aws, unique):
    """``queue(prefix, **attributes)`` -> (url, arn)."""
    sqs = aws("sqs")

    def make(prefix: str, **attributes) -> tuple[str, str]:
        name = unique(prefix) + (".fifo" if attributes.get("FifoQueue") == "true" else "")
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        return url, queue_arn(sqs, url)

    return make


def zipped(code: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", code)
    return buffer.getvalue()


@pytest.fixture
def function(aws, unique):
    """``function(code)`` -> ARN of a Python Lambda function whose handler is ``handler``."""
    lam = aws("lambda")

    def make(code: str, prefix: str = "pipe-fn") -> str:
        return lam.create_function(FunctionName=unique(prefix), Runtime="python3.12",
                                   Role=f"arn:aws:iam::{ACCOUNT_A}:role/fn", Handler="index.handler",
                                   Code={"ZipFile": zipped(code)}, Timeout=30)["FunctionArn"]

    return make


class Endpoint:
    """A local HTTP server recording each request and answering with ``respond(request)``."""

    def __init__(self, respond) -> None:
        self.requests: list[dict] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0)).decode()
                request = {"method": self.command, "path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
                endpoint.requests.append(request)
                status, answer = respond(request)
                data = answer.encode() if isinstance(answer, str) else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = do_PUT = do_GET = _serve

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def endpoint():
    started = []

    def make(respond) -> Endpoint:
        started.append(Endpoint(respond))
        return started[-1]

    yield make
    for server in started:
        server.server.shutdown()
        server.server.server_close()


@pytest.fixture
def api_destination(aws, unique):
    """``api_destination(url, method)`` -> API destination ARN (connection: API key)."""
    events = aws("events")

    def make(url: str, method: str = "POST") -> str:
        connection = events.create_connection(
            Name=unique("pipe-conn"), AuthorizationType="API_KEY",
            AuthParameters={"ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": "secret-key"}})
        return events.create_api_destination(Name=unique("pipe-dest"), ConnectionArn=connection["ConnectionArn"],
                                             InvocationEndpoint=url, HttpMethod=method)["ApiDestinationArn"]

    return make


def wait_state(pipes, name: str, *states: str, timeout: float = 15) -> dict:
    return wait_for(lambda: (d := pipes.describe_pipe(Name=name))["CurrentState"] in states and d,
                    timeout=timeout) or pipes.describe_pipe(Name=name)


def log_records(logs, group: str, pipe_arn: str | None = None) -> list[dict]:
    try:
        events = logs.filter_log_events(logGroupName=group)["events"]
    except logs.exceptions.ResourceNotFoundException:
        return []
    records = [json.loads(e["message"]) for e in events]
    return [r for r in records if pipe_arn is None or r.get("resourceArn") == pipe_arn]
