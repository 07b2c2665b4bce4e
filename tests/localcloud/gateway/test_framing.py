"""Honest HTTP/1.1 framing at the gateway (localcloud/gateway/framing.py), on raw sockets,
for an HTTP API route (SQS-SendMessage integration) and for an AWS API (SQS SendMessage,
JSON protocol). Every refused request is answered, its connection closed, and nothing of
it reaches the queue.

RFC 9112: §6.1 (a request with both Transfer-Encoding and Content-Length may be rejected,
and the connection must be closed), §6.3 (message body length), §9.6 (nothing after a
request that closes the connection is a request). Read timeout: API Gateway's 30 s
integration timeout is the default; this local cloud runs with 2 s.
"""

from __future__ import annotations

import json
import time

import boto3
import pytest
from botocore.config import Config

from ..conftest import ACCOUNT_A, REGION, allow, create_role, own_local_cloud, sigv4_headers
from .wire import exchange, status_of

READ_TIMEOUT_S = 2
ROLE = f"arn:aws:iam::{ACCOUNT_A}:role/http-api-integration"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    with own_local_cloud(tmp_path_factory.mktemp("framing-cloud"),
                         LOCALCLOUD_READ_TIMEOUT_SECONDS=str(READ_TIMEOUT_S)) as local:
        yield local.endpoint, local.port


def client(endpoint: str, service: str):
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint, aws_access_key_id=ACCOUNT_A,
                        aws_secret_access_key="test", config=Config(retries={"max_attempts": 1}))


class Target:
    """Where a raw request goes, and the queue that shows whether anything was delivered."""

    def __init__(self, name: str, port: int, queue_url: str, path: str, headers_of, body_of):
        self.name, self.port, self.queue_url, self.path = name, port, queue_url, path
        self.headers_of, self.body_of = headers_of, body_of

    def head(self, framing: str, extra: str = "", body: bytes = b"") -> bytes:
        """The request's head; a signed target signs ``body`` (refused framing never gets that far)."""
        lines = [f"POST {self.path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}",
                 *(f"{k}: {v}" for k, v in self.headers_of(self.path, body).items()), framing]
        return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode()

    def request(self, text: str, extra: str = "") -> bytes:
        body = self.body_of(text)
        return self.head(f"Content-Length: {len(body)}", extra, body) + body


@pytest.fixture(scope="module", params=["http_api", "aws_api"])
def target(request, cloud) -> Target:
    endpoint, port = cloud
    sqs = client(endpoint, "sqs")
    queue_url = sqs.create_queue(QueueName=f"framing-{request.param}")["QueueUrl"]
    if request.param == "http_api":
        create_role(client(endpoint, "iam"), ROLE.rsplit("/", 1)[-1], ["apigateway.amazonaws.com"],
                    [allow("sqs:SendMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT_A}:framing-http_api")])
        gw = client(endpoint, "apigatewayv2")
        api_id = gw.create_api(Name="framing", ProtocolType="HTTP")["ApiId"]
        gw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
        integration = gw.create_integration(
            ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationSubtype="SQS-SendMessage",
            PayloadFormatVersion="1.0", CredentialsArn=ROLE,
            RequestParameters={"QueueUrl": queue_url, "MessageBody": "$request.body"})["IntegrationId"]
        gw.create_route(ApiId=api_id, RouteKey="POST /", Target=f"integrations/{integration}")
        return Target("http_api", port, queue_url, f"/_aws/execute-api/{api_id}/",
                      lambda _path, _body: {"Content-Type": "application/json"}, lambda text: text.encode())
    return Target("aws_api", port, queue_url, "/", lambda path, body: sigv4_headers(
        "POST", f"http://127.0.0.1:{port}{path}", body, "sqs",
        {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.SendMessage"}),
        lambda text: json.dumps({"QueueUrl": queue_url, "MessageBody": text}).encode())


def delivered(target: Target, endpoint: str) -> list[str]:
    sqs = client(endpoint, "sqs")
    messages = sqs.receive_message(QueueUrl=target.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    found = [m["Body"] for m in messages.get("Messages", [])]
    for message in messages.get("Messages", []):
        sqs.delete_message(QueueUrl=target.queue_url, ReceiptHandle=message["ReceiptHandle"])
    return found


def assert_refused(response: bytes, closed: bool, status: int, target: Target, endpoint: str) -> None:
    assert status_of(response) == status, response[:300]
    assert response.count(b"HTTP/1.1 ") == 1, f"more than one answer: {response[:500]!r}"
    assert closed, "the server kept the connection open"
    assert delivered(target, endpoint) == [], "a refused request delivered its body"


def test_content_length_shorter_than_the_body_with_connection_close(cloud, target):
    # The declared length covers a complete, deliverable body; what follows it is not a request.
    prefix = target.body_of('{"amount": 1}')
    head = target.head(f"Content-Length: {len(prefix)}", "Connection: close\r\n", prefix)
    response, closed = exchange(target.port, [head + prefix + b' {"smuggled": true}'])
    assert_refused(response, closed, 400, target, cloud[0])


def test_content_length_shorter_than_the_body_on_a_kept_alive_connection(cloud, target):
    prefix = target.body_of('{"amount": 2}')
    response, closed = exchange(target.port, [target.head(f"Content-Length: {len(prefix)}", "", prefix) + prefix
                                              + b'"amount": 3}'])
    assert_refused(response, closed, 400, target, cloud[0])


def test_content_length_longer_than_the_body_times_out(cloud, target):
    body = target.body_of('{"amount": 4}')
    response, closed = exchange(target.port, [target.head(f"Content-Length: {len(body) + 50}", "", body) + body])
    assert_refused(response, closed, 408, target, cloud[0])


def test_content_length_longer_than_the_body_then_the_client_stops_sending(cloud, target):
    body = target.body_of('{"amount": 5}')
    response, closed = exchange(target.port, [target.head(f"Content-Length: {len(body) + 50}", "", body) + body],
                                half_close=True)
    assert_refused(response, closed, 400, target, cloud[0])


def test_content_length_with_transfer_encoding_is_refused_and_the_hidden_request_never_served(cloud, target):
    body = target.body_of('{"amount": 6}')
    chunked = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    smuggled = target.request('{"smuggled": 7}')
    response, closed = exchange(target.port, [
        target.head(f"Content-Length: {len(chunked)}\r\nTransfer-Encoding: chunked") + chunked + smuggled])
    assert_refused(response, closed, 400, target, cloud[0])


def test_truncated_chunked_body_then_the_client_stops_sending(cloud, target):
    body = target.body_of('{"amount": 8}')
    response, closed = exchange(target.port, [
        target.head("Transfer-Encoding: chunked") + f"{len(body) + 20:x}\r\n".encode() + body], half_close=True)
    assert_refused(response, closed, 400, target, cloud[0])


def test_truncated_chunked_body_times_out(cloud, target):
    body = target.body_of('{"amount": 9}')
    response, closed = exchange(target.port, [
        target.head("Transfer-Encoding: chunked") + f"{len(body):x}\r\n".encode() + body + b"\r\n"])
    assert_refused(response, closed, 408, target, cloud[0])


def test_a_body_that_trickles_in_is_timed_out_while_bytes_still_arrive(cloud, target):
    body = target.body_of('{"amount": 10, "padding": "................"}')
    started = time.monotonic()
    response, closed = exchange(target.port, [target.head(f"Content-Length: {len(body)}", "", body)]
                                + [body[i:i + 1] for i in range(len(body))], pause=0.5)
    assert_refused(response, closed, 408, target, cloud[0])
    # Refused at the deadline, long before the last byte would have been sent.
    assert time.monotonic() - started < len(body) * 0.5


def test_pipelined_requests_with_honest_framing_are_all_served(cloud, target):
    first, second = target.request('{"n": 1}'), target.request('{"n": 2}', "Connection: close\r\n")
    # The second request's first bytes arrive with the first body: a request line begun.
    response, closed = exchange(target.port, [first + second[:3], second[3:]], pause=0.2)
    assert response.count(b"HTTP/1.1 200 ") == 2, response[:600]
    assert closed
    bodies = delivered(target, cloud[0])
    assert sorted(bodies) == ['{"n": 1}', '{"n": 2}']


def test_bytes_after_a_complete_request_that_closes_are_ignored(cloud, target):
    """RFC 9112 §9.6: after a request with Connection: close, later bytes are not a request."""
    request = target.request('{"n": 3}', "Connection: close\r\n")
    response, closed = exchange(target.port, [request, b"GARBAGE that arrives later"], pause=0.5)
    assert status_of(response) == 200 and response.count(b"HTTP/1.1 ") == 1, response[:300]
    assert delivered(target, cloud[0]) == ['{"n": 3}']
