"""AWS's request-size limits, enforced before a body is read, and the body read whole
before anything serves the request.

Before this module a 100 MB body to an AWS API was read into memory whole; now a
declared Content-Length over the limit is refused before one byte of body is read, and a
chunked body is refused as soon as it passes the limit. The refusal closes the
connection (the rest of the body is never read).

Limits, from AWS's documentation or its recorded answers:

* an API Gateway execute-api request: 10 MB, 413 ``{"message":"Request Entity Too
  Large"}`` (API Gateway quotas, "Payload size", HTTP and REST APIs);
* Lambda Invoke: 6291456 bytes; other Lambda calls (CreateFunction, UpdateFunctionCode
  with a 50 MB zip in JSON): 69905067 bytes; 413 RequestEntityTooLargeException "Request
  must be smaller than N bytes for the X operation" (the answer AWS gives, as quoted in
  motdotla/node-lambda#123 and awslabs/aws-athena-query-federation#793);
* S3: 5 GiB, a single PUT's maximum (EntityTooLarge);
* every other AWS API: 16 MiB, DynamoDB BatchWriteItem's request maximum, the largest of
  the APIs this project uses (RequestEntityTooLargeException, 413, AWS common errors).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from localcloud.gateway import shapes

MIB = 1024 * 1024
EXECUTE_API_BYTES = 10 * MIB
LAMBDA_INVOKE_BYTES = 6_291_456
LAMBDA_API_BYTES = 69_905_067
S3_BYTES = 5 * 1024 * MIB
AWS_API_BYTES = 16 * MIB
WITHIN_EVERY_LIMIT = min(EXECUTE_API_BYTES, LAMBDA_INVOKE_BYTES, LAMBDA_API_BYTES, S3_BYTES, AWS_API_BYTES)
_LAMBDA_OPERATIONS = (
    (re.compile(r"^/\d{4}-\d{2}-\d{2}/functions/[^/]+/(invocations|invoke-async/?|response-streaming-invocations)$"),
     LAMBDA_INVOKE_BYTES, "InvokeFunction"),
    (re.compile(r"^/2015-03-31/functions/?$"), LAMBDA_API_BYTES, "CreateFunction"),
    (re.compile(r"^/2015-03-31/functions/[^/]+/code$"), LAMBDA_API_BYTES, "UpdateFunctionCode"),
    (re.compile(r"^/"), LAMBDA_API_BYTES, None),
)


@dataclass(frozen=True)
class BodyLimit:
    max_bytes: int
    refusal: Callable[[], tuple[int, dict, bytes]]  # built only when a request is refused


def _too_large_for_api_gateway() -> tuple[int, dict, bytes]:
    return 413, {"Content-Type": "application/json"}, b'{"message":"Request Entity Too Large"}'


def limit_for(method: str, path: str, headers: dict, query_params: dict) -> BodyLimit:
    from localcloud import seams

    if seams.apigatewayv2.parse_execute_api_url(headers.get("host", ""), path) is not None:
        return BodyLimit(EXECUTE_API_BYTES, _too_large_for_api_gateway)
    service = seams.router.service_for(method, path, headers, query_params)

    def refusal(status: int, code: str, message: str):
        return lambda: shapes.error_response(shapes.protocol_of(service, headers, query_params), status, code,
                                             message, headers)

    if service == "lambda":
        for pattern, limit, operation in _LAMBDA_OPERATIONS:
            if pattern.match(path):
                message = f"Request must be smaller than {limit} bytes" + (
                    f" for the {operation} operation" if operation else "")
                return BodyLimit(limit, refusal(413, "RequestEntityTooLargeException", message))
    if service == "s3":
        return BodyLimit(S3_BYTES, refusal(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size"))
    return BodyLimit(AWS_API_BYTES, refusal(413, "RequestEntityTooLargeException",
                                            f"Request must be smaller than {AWS_API_BYTES} bytes"))


def declared_length(headers: dict) -> int | None:
    """The body's length as the headers declare it (no framing header: no body), or None
    for a chunked body."""
    if "transfer-encoding" in headers:
        return None
    value = headers.get("content-length", "0").strip()
    return int(value) if value.isdigit() else None


class TooLarge(Exception):
    pass


async def read_body(receive, max_bytes: int) -> bytes | None:
    """The whole body, or None when the client went away before sending it all (nothing
    of it is delivered); raises TooLarge past ``max_bytes``."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            raise TooLarge()
        if chunk:
            chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def replay(body: bytes, receive):
    """An ASGI ``receive`` that gives ``body`` whole, then whatever the client does next."""
    delivered = False

    async def receive_again():
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return receive_again
