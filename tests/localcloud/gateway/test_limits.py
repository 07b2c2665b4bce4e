"""Request-size limits at the gateway (localcloud/gateway/limits.py): a body over AWS's
limit is refused before it is read (declared length) or as soon as it passes the limit
(chunked), the connection closed, nothing delivered.

Limits pinned: API Gateway payload 10 MB ({"message":"Request Entity Too Large"}, API
Gateway quotas: https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html);
Lambda Invoke 6291456 bytes, RequestEntityTooLargeException 413 "Request must be smaller
than 6291456 bytes for the InvokeFunction operation" (as AWS answers, quoted in
awslabs/aws-athena-query-federation#793); other AWS APIs 16 MiB,
RequestEntityTooLargeException 413 (AWS common errors:
https://docs.aws.amazon.com/eventbridge/latest/APIReference/CommonErrors.html).
"""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlparse

from ..conftest import ACCOUNT_A, REGION
from .wire import exchange

MIB = 1024 * 1024


def signed(service: str) -> str:
    return f"AWS4-HMAC-SHA256 Credential={ACCOUNT_A}/20260101/{REGION}/{service}/aws4_request, SignedHeaders=host, " \
           "Signature=0"


def send_head_only(localcloud, head: bytes) -> tuple[bytes, bool]:
    """Send a request's head (no body) and read until the server answers and closes."""
    return exchange(urlparse(localcloud.endpoint).port, [head])


def head(method: str, path: str, headers: dict) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def body_of(response: bytes) -> bytes:
    return response.split(b"\r\n\r\n", 1)[1]


def test_a_100_mb_body_to_an_aws_api_is_refused_before_it_is_read(localcloud):
    response, closed = send_head_only(localcloud, head("POST", "/", {
        "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.SendMessage",
        "Authorization": signed("sqs"), "Content-Length": str(100 * MIB)}))
    assert response.startswith(b"HTTP/1.1 413 "), response[:300]
    assert json.loads(body_of(response))["__type"] == "RequestEntityTooLargeException"
    assert closed


def test_a_chunked_body_is_refused_once_it_passes_the_limit(localcloud, aws, unique):
    queue_url = aws("sqs").create_queue(QueueName=unique("limit"))["QueueUrl"]
    document = json.dumps({"QueueUrl": queue_url, "MessageBody": "x" * (17 * MIB)}).encode()
    sock = socket.create_connection(("127.0.0.1", urlparse(localcloud.endpoint).port), timeout=60)
    received = b""
    try:
        sock.sendall(head("POST", "/", {"Content-Type": "application/x-amz-json-1.0",
                                        "X-Amz-Target": "AmazonSQS.SendMessage", "Authorization": signed("sqs"),
                                        "Transfer-Encoding": "chunked"}))
        try:
            for start in range(0, len(document), MIB):
                piece = document[start:start + MIB]
                sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused mid-body: the server stopped reading
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    finally:
        sock.close()
    assert received.startswith(b"HTTP/1.1 413 "), received[:300]
    time.sleep(0.5)
    assert "Messages" not in aws("sqs").receive_message(QueueUrl=queue_url, WaitTimeSeconds=1)


def test_lambda_invoke_over_6_mb(localcloud):
    response, closed = send_head_only(localcloud, head("POST", "/2015-03-31/functions/any/invocations", {
        "Authorization": signed("lambda"), "Content-Length": str(6_291_457)}))
    assert response.startswith(b"HTTP/1.1 413 "), response[:300]
    assert b"\r\nx-amzn-errortype: RequestEntityTooLargeException\r\n" in response
    assert json.loads(body_of(response)) == {
        "message": "Request must be smaller than 6291456 bytes for the InvokeFunction operation"}
    assert closed


def test_http_api_payload_over_10_mb(localcloud):
    response, closed = send_head_only(localcloud, head("POST", "/_aws/execute-api/anyapi/", {
        "Content-Type": "application/json", "Content-Length": str(10 * MIB + 1)}))
    assert response.startswith(b"HTTP/1.1 413 "), response[:300]
    assert json.loads(body_of(response)) == {"message": "Request Entity Too Large"}
    assert closed


def test_a_body_within_the_limit_is_served(aws, unique):
    sqs = aws("sqs")
    queue_url = sqs.create_queue(QueueName=unique("within"))["QueueUrl"]
    sqs.send_message(QueueUrl=queue_url, MessageBody="y" * 200_000)
    assert len(sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1)["Messages"][0]["Body"]) == 200_000
