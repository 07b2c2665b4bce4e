"""A service handler that fails answers in AWS's envelope for the request's protocol:
InternalFailure, 500, AWS's words (AWS common errors:
https://docs.aws.amazon.com/eventbridge/latest/APIReference/CommonErrors.html), never
Python's. No server needed: the wrapper is exercised around a handler that raises."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from localcloud.gateway import shapes

PYTHON_WORDS = "'NoneType' object has no attribute 'get'"


async def failing_handler(method, path, headers, body, query_params):
    raise AttributeError(PYTHON_WORDS)


def answer(service: str, method: str, path: str, headers: dict, body: bytes) -> tuple[int, dict, bytes]:
    handler = shapes.shaped_handler(service)(failing_handler)
    # A loop of its own, on a thread of its own (another test's browser may hold this thread's).
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, handler(method, path, headers, body, {})).result(timeout=60)


@pytest.mark.parametrize("service,method,path,headers,body,envelope", [
    ("events", "POST", "/", {"x-amz-target": "AWSEvents.ListRules", "content-type": "application/x-amz-json-1.1"},
     b"{}", "json"),
    ("lambda", "GET", "/2015-03-31/functions/f", {}, b"", "rest-json"),
    ("sts", "POST", "/", {"content-type": "application/x-www-form-urlencoded"}, b"Action=GetCallerIdentity", "query"),
    ("s3", "GET", "/bucket/key", {}, b"", "rest-xml"),
])
def test_a_failing_handler_answers_internal_failure_in_its_protocol(service, method, path, headers, body, envelope):
    status, response_headers, response = answer(service, method, path, headers, body)
    assert status == 500
    assert PYTHON_WORDS.encode() not in response
    if envelope == "json":
        assert json.loads(response)["__type"] == "InternalFailure"
    elif envelope == "rest-json":
        assert response_headers["x-amzn-ErrorType"] == "InternalFailure"
    elif envelope == "query":
        assert b"<Type>Receiver</Type><Code>InternalFailure</Code>" in response
    else:
        assert b"<Error><Code>InternalFailure</Code>" in response


def test_a_handler_failing_on_a_member_of_the_wrong_type_is_the_callers_fault():
    status, _headers, response = answer("events", "POST", "/", {
        "x-amz-target": "AWSEvents.ListRules", "content-type": "application/x-amz-json-1.1"}, b'{"Limit": "ten"}')
    assert status == 400
    assert json.loads(response) == {"__type": shapes.SERIALIZATION,
                                    "Message": "class java.lang.String can not be converted to an Integer"}
