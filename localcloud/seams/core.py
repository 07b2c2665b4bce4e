"""ministack's app, its service-handler registry, request scoping and in-process calls.

Every service seam builds on these; nothing here knows a particular service.
"""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

logger = logging.getLogger("localcloud")

ServiceHandler = Callable[[str, str, dict, bytes, dict], Awaitable[tuple[int, dict, bytes]]]

# Scratch accounts for probes (does ministack already do the job?): never used otherwise.
PROBE_ACCOUNT_A, PROBE_ACCOUNT_B, PROBE_REGION = "000000000901", "000000000902", "us-east-1"


def ministack_app():
    from ministack import app

    return app


def ministack_version() -> str:
    from importlib.metadata import version

    return version("ministack")


def service_handler(service: str) -> ServiceHandler:
    return ministack_app().SERVICE_HANDLERS[service]


def wrap_service_handler(service: str, make_wrapper: Callable[[ServiceHandler], ServiceHandler]) -> None:
    """Replace ministack's handler for ``service`` with ``make_wrapper(original)``."""
    handlers = ministack_app().SERVICE_HANDLERS
    handlers[service] = make_wrapper(handlers[service])


def request_scope(account_id: str, region: str):
    from ministack.core.responses import request_scope as scope

    return scope(account_id, region)


def current_account() -> str:
    from ministack.core.responses import get_account_id

    return get_account_id()


def current_region() -> str:
    from ministack.core.responses import get_region

    return get_region()


def new_id() -> str:
    """A fresh id in the form ministack gives resources and events (a UUID)."""
    from ministack.core.responses import new_uuid

    return new_uuid()


def json_response(document: dict) -> tuple[int, dict, bytes]:
    """A 200 answer of an AWS JSON-protocol action, as ministack's handlers return it."""
    from ministack.core.responses import json_response as respond

    return respond(document)


def error_response(code: str, message: str, status: int = 400) -> tuple[int, dict, bytes]:
    """An AWS JSON-protocol error answer (``__type`` and ``message``)."""
    from ministack.core.responses import error_response_json

    return error_response_json(code, message, status)


# --- calling ministack's AWS APIs in-process ----------------------------------------

_JSON_PROTOCOL = {
    # service: (signing name, X-Amz-Target prefix, content type)
    "events": ("events", "AWSEvents", "application/x-amz-json-1.1"),
    "sqs": ("sqs", "AmazonSQS", "application/x-amz-json-1.0"),
    "logs": ("logs", "Logs_20140328", "application/x-amz-json-1.1"),
    "states": ("states", "AWSStepFunctions", "application/x-amz-json-1.0"),
    "lambda": ("lambda", "", "application/json"),
    "kinesis": ("kinesis", "Kinesis_20131202", "application/x-amz-json-1.1"),
    "dynamodbstreams": ("dynamodb", "DynamoDBStreams_20120810", "application/x-amz-json-1.0"),
    "firehose": ("firehose", "Firehose_20150804", "application/x-amz-json-1.1"),
}


# Who acts in the call now running (an ARN, or the evaluator's own caller object): set for an
# in-process call from its ``principal``, and for an API request once it is authenticated.
_acting: contextvars.ContextVar[Any] = contextvars.ContextVar("localcloud_acting", default=None)
# Strict IAM installs the check every in-process call passes: (principal, service, method,
# path, headers, body, account, region) -> None, or the refusal (status, headers, body).
_authorizer: Callable[..., tuple[int, dict, bytes] | None] | None = None


def install_in_process_authorizer(authorizer: Callable[..., tuple[int, dict, bytes] | None]) -> None:
    global _authorizer
    _authorizer = authorizer


def acting() -> Any:
    """The principal the current call acts as (None when nothing set it)."""
    return _acting.get()


def set_acting(principal: Any) -> None:
    _acting.set(principal)


def json_request(service: str, action: str, account: str, region: str, payload: dict) -> tuple[str, str, dict, bytes]:
    """An in-process request. Its Authorization header names the account only (ministack's
    handlers read the account from it); who acts is the call's ``principal``, checked first."""
    signing_name, prefix, content_type = _JSON_PROTOCOL[service]
    headers = {
        "content-type": content_type,
        "x-amz-target": f"{prefix}.{action}",
        "authorization": f"AWS4-HMAC-SHA256 Credential={account}/20260101/{region}/{signing_name}/aws4_request",
        "host": f"{signing_name}.{region}.amazonaws.com",
    }
    return "POST", "/", headers, json.dumps(payload).encode()


def decode_json(status: int, body: bytes) -> tuple[int, dict]:
    try:
        return status, (json.loads(body) if body else {})
    except ValueError:
        return status, {"raw": body.decode("utf-8", "replace")}


async def _authorized_call(target: ServiceHandler, principal: str, service: str, account: str, region: str,
                           method: str, path: str, headers: dict, body: bytes) -> tuple[int, dict, bytes]:
    with request_scope(account, region):
        _acting.set(principal)
        if _authorizer is not None:
            refused = _authorizer(principal, service, method, path, headers, body, account, region)
            if refused is not None:
                return refused
        return await target(method, path, headers, body, {})


async def call_json_api(service: str, action: str, account: str, region: str, payload: dict, *,
                        principal: str) -> tuple[int, dict]:
    """Call ``service``'s ``action`` on the event loop, in ``account``/``region``, as ``principal``
    (the role or service AWS would act as; strict IAM evaluates it)."""
    method, path, headers, body = json_request(service, action, account, region, payload)
    status, _headers, response = await _authorized_call(service_handler(service), principal, service, account,
                                                        region, method, path, headers, body)
    return decode_json(status, response)


def call_handler_sync(service: str, account: str, region: str, method: str, path: str, headers: dict,
                      body: bytes, timeout: float = 30.0, *, principal: str) -> tuple[int, dict, bytes]:
    """Run ministack's handler for ``service`` from a worker thread, in ``account``/``region``, as ``principal``."""
    target = service_handler(service)

    async def scoped(method, path, headers, body, _query_params):
        return await _authorized_call(target, principal, service, account, region, method, path, headers, body)

    return ministack_app().call_service_handler_sync(scoped, method, path, headers, body, {}, timeout=timeout)


def call_json_api_sync(service: str, action: str, account: str, region: str, payload: dict,
                       timeout: float = 30.0, *, principal: str) -> tuple[int, dict]:
    """Same as :func:`call_json_api`, from a worker thread (pollers, CloudFormation)."""
    method, path, headers, body = json_request(service, action, account, region, payload)
    status, _headers, response = call_handler_sync(service, account, region, method, path, headers, body, timeout,
                                                   principal=principal)
    return decode_json(status, response)


def call_query_api_sync(service: str, action: str, account: str, region: str, params: dict[str, str],
                        timeout: float = 30.0, *, principal: str) -> tuple[int, bytes]:
    """Call a query-protocol (form-encoded) ``action`` from a worker thread (SNS), as ``principal``."""
    from urllib.parse import urlencode

    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "authorization": f"AWS4-HMAC-SHA256 Credential={account}/20260101/{region}/{service}/aws4_request",
        "host": f"{service}.{region}.amazonaws.com",
    }
    body = urlencode({"Action": action, **params}).encode()
    status, _headers, response = call_handler_sync(service, account, region, "POST", "/", headers, body, timeout,
                                                   principal=principal)
    return status, response
