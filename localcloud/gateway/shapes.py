"""AWS's error envelopes, per protocol, for requests the local cloud refuses at the door
or whose handler fails: never a 500 carrying Python's words.

Measured before this module (ministack 1.5.33): a JSON-protocol body that is valid JSON
but not an object (``[1]``, ``"x"``, ``3``, ``null``) got HTTP 500 with the Python error
("'list' object has no attribute 'get'"); invalid JSON to SQS got QueueDoesNotExist;
invalid JSON to API Gateway v2 and Pipes created an API and a pipe with defaults.

How AWS answers, and where that is written down:

* awsJson 1.0/1.1 (events, sqs, logs, states, kms, secretsmanager, dynamodb, …): a body
  that does not deserialize is 400 ``{"__type": "com.amazon.coral.service#SerializationException"}``
  (as recorded from DynamoDB by dynalite's test suite, mhart/dynalite, and the same
  envelope with a ``Message`` for a value of the wrong type).
* restJson1 (lambda, apigatewayv2, pipes): 400 with ``x-amzn-ErrorType:
  SerializationException``, for invalid JSON and for valid JSON that is not an object:
  Smithy's protocol tests RestJsonInvalidJsonBody and RestJsonTechnicallyValidJsonBody
  (smithy-lang/smithy, smithy-aws-protocol-tests/model/restJson1/malformedRequests/
  malformed-request-body.smithy). Lambda's Invoke takes any JSON value and answers a
  payload that does not parse with InvalidRequestContentException, 400 (Lambda API
  reference, Invoke, Errors).
* restXml (s3): MalformedXML, 400, "The XML you provided was not well-formed or did not
  validate against our published schema" (Amazon S3 API reference, Error responses).
* every protocol: InternalFailure, 500, "The request processing has failed because of an
  unknown error, exception or failure."; RequestEntityTooLargeException, 413 (AWS common
  errors, e.g. https://docs.aws.amazon.com/eventbridge/latest/APIReference/CommonErrors.html).
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from xml.etree.ElementTree import ParseError, fromstring
from xml.parsers.expat import ExpatError
from xml.sax.saxutils import escape

logger = logging.getLogger("localcloud.gateway")

AWS_JSON, QUERY, REST_JSON, REST_XML = "awsJson", "query", "restJson", "restXml"
_REST_XML_SERVICES = frozenset({"s3", "s3control", "route53", "cloudfront"})
SERIALIZATION = "com.amazon.coral.service#SerializationException"
INTERNAL_FAILURE = ("InternalFailure", "The request processing has failed because of an unknown error, "
                    "exception or failure.")
# S3 requests whose body is an XML document (PutBucketTagging, DeleteObjects, …); a POST
# with uploadId completes a multipart upload (a PUT with one is a part: raw data).
_S3_XML_SUBRESOURCES = frozenset({
    "tagging", "delete", "lifecycle", "cors", "notification", "versioning", "acl", "encryption", "website",
    "replication", "ownershipControls", "publicAccessBlock", "logging", "object-lock", "accelerate",
    "requestPayment", "intelligent-tiering", "inventory", "metrics", "analytics", "retention", "legal-hold",
    "restore"})
MALFORMED_XML = ("MalformedXML", "The XML you provided was not well-formed or did not validate against our "
                 "published schema")
_LAMBDA_INVOCATION = re.compile(
    r"^/(2015-03-31/functions/[^/]+/invocations|2014-11-13/functions/[^/]+/invoke-async/?"
    r"|2021-11-15/functions/[^/]+/response-streaming-invocations)$")

Response = tuple[int, dict, bytes]


def _content_type(headers: dict) -> str:
    return headers.get("content-type", "").split(";")[0].strip().lower()


def protocol_of(service: str, headers: dict, query_params: dict | None = None) -> str:
    content_type = _content_type(headers)
    if headers.get("x-amz-target") and "json" in content_type:
        return AWS_JSON
    if service in _REST_XML_SERVICES:
        return REST_XML
    if content_type == "application/x-www-form-urlencoded" or "Action" in (query_params or {}):
        return QUERY
    return REST_JSON


def error_response(protocol: str, status: int, code: str, message: str | None, request_headers: dict) -> Response:
    request_id = str(uuid.uuid4())
    if protocol == AWS_JSON:
        content_type = _content_type(request_headers)
        document = {"__type": code} | ({"Message": message} if message else {})
        return status, {"Content-Type": content_type if content_type.startswith("application/x-amz-json")
                        else "application/x-amz-json-1.1", "x-amzn-RequestId": request_id}, json.dumps(document).encode()
    if protocol == REST_JSON:
        short = code.rsplit("#", 1)[-1]
        return status, {"Content-Type": "application/json", "x-amzn-ErrorType": short,
                        "x-amzn-RequestId": request_id}, json.dumps({"message": message or ""}).encode()
    text = escape(message or "")
    if protocol == QUERY:
        fault = "Sender" if status < 500 else "Receiver"
        body = (f"<ErrorResponse><Error><Type>{fault}</Type><Code>{code}</Code><Message>{text}</Message>"
                f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>")
        return status, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}, body.encode()
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{text}</Message>'
            f"<RequestId>{request_id}</RequestId></Error>")
    return status, {"Content-Type": "application/xml", "x-amz-request-id": request_id}, body.encode()


def _structured_json_body(service: str, method: str, path: str, headers: dict) -> bool:
    """restJson operations whose body is a JSON structure (not a raw payload)."""
    if _content_type(headers) != "application/json":
        return False
    if service == "lambda":
        return not _LAMBDA_INVOCATION.match(path)
    return service == "pipes" or (service == "apigateway" and path.startswith("/v2/"))


def _parse(body: bytes):
    try:
        return json.loads(body)
    except ValueError:  # UnicodeDecodeError and JSONDecodeError alike
        return _UNPARSEABLE


_UNPARSEABLE = object()


def malformed_body(service: str, method: str, path: str, headers: dict, body: bytes,
                   query_params: dict | None = None) -> Response | None:
    """AWS's answer to a body its protocol cannot deserialize, or None to let it through."""
    if not body.strip():
        return None  # an absent body is the service's to judge (missing parameters)
    protocol = protocol_of(service, headers, query_params)
    if protocol == AWS_JSON:
        if not isinstance(_parse(body), dict):
            return error_response(AWS_JSON, 400, SERIALIZATION, None, headers)
        return None
    if protocol == REST_XML and service == "s3":
        return _malformed_s3_body(method, path, set(query_params or ()), headers, body)
    if protocol != REST_JSON:
        return None
    if service == "lambda" and _LAMBDA_INVOCATION.match(path) and _content_type(headers) in ("", "application/json"):
        if _parse(body) is _UNPARSEABLE:
            return error_response(REST_JSON, 400, "InvalidRequestContentException",
                                  "Could not parse request body into json: Could not parse payload into json", headers)
        return None
    if _structured_json_body(service, method, path, headers) and not isinstance(_parse(body), dict):
        return error_response(REST_JSON, 400, "SerializationException", None, headers)
    return None


def _malformed_s3_body(method: str, path: str, subresources: set, headers: dict, body: bytes) -> Response | None:
    if method not in ("PUT", "POST"):
        return None
    if "policy" in subresources:
        if not (body.lstrip().startswith(b"{") and isinstance(_parse(body), dict)):
            return error_response(REST_XML, 400, "MalformedPolicy",
                                  "Policies must be valid JSON and the first byte must be '{'", headers)
        return None
    creates_bucket = method == "PUT" and not subresources and re.fullmatch(r"/?[^/]*/?", path) is not None
    if creates_bucket or subresources & _S3_XML_SUBRESOURCES or (method == "POST" and "uploadId" in subresources):
        try:
            fromstring(body)
        except (ParseError, ExpatError):
            return error_response(REST_XML, 400, *MALFORMED_XML, headers)
    return None


def handler_failure(service: str, method: str, path: str, headers: dict, body: bytes, query_params: dict,
                    error: BaseException) -> Response:
    """What AWS answers when a request makes the service fail: a client error where the
    request is at fault (XML or JSON that does not parse), else InternalFailure. The
    Python error goes to the server's log, never to the client."""
    protocol = protocol_of(service, headers, query_params)
    if isinstance(error, (ParseError, ExpatError)) and protocol == REST_XML:
        return error_response(REST_XML, 400, *MALFORMED_XML, headers)
    if isinstance(error, json.JSONDecodeError) and protocol in (AWS_JSON, REST_JSON):
        return error_response(protocol, 400, SERIALIZATION, None, headers)
    if protocol in (AWS_JSON, REST_JSON) and isinstance(document := _parse(body), dict):
        from localcloud.gateway import wire_types

        mismatch = wire_types.body_type_error(service, method, path, headers, document)
        if mismatch:
            return error_response(protocol, 400, SERIALIZATION, mismatch, headers)
    logger.warning("%s %s %s failed inside the service handler", service, method, path, exc_info=error)
    return error_response(protocol, 500, *INTERNAL_FAILURE, headers)


def shaped_handler(service: str):
    """A wrapper for ministack's handler of ``service``: refuses malformed bodies first,
    turns a failure into AWS's envelope."""

    def wrap(handler):
        async def handle(method, path, headers, body, query_params):
            refused = malformed_body(service, method, path, headers, body, query_params)
            if refused:
                return refused
            try:
                return await handler(method, path, headers, body, query_params)
            except Exception as error:  # the service failed: AWS's answer, not Python's
                return handler_failure(service, method, path, headers, body, query_params, error)

        return handle

    return wrap


def install() -> None:
    """Wrap every service handler (after the extensions wrapped theirs, so this is outermost)."""
    from localcloud import seams

    for service in seams.router.service_names():
        seams.wrap_service_handler(service, shaped_handler(service))
