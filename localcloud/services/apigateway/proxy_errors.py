"""A REST API's Lambda proxy integration answers a failed or malformed function answer as
AWS does.

When the function behind a REST API's AWS_PROXY integration fails (it raises, times out) or
answers with something that is not a proxy response, API Gateway answers ``502`` with
``{"message": "Internal server error"}``; the function's error stays in its own log. A
proxy response is a non-empty JSON object with no keys but ``statusCode`` (a number, or a
string of one), ``headers``, ``multiValueHeaders`` (lists of values), ``body`` and
``isBase64Encoded`` (AWS-recorded: LocalStack tests/aws/services/apigateway/
test_apigateway_lambda.snapshot.json::test_aws_proxy_response_payload_format_validation).
ministack 1.5.33 puts the function's error message, stack trace included, in the body, and
passes a bare string or an object with other keys through as a 200. (An HTTP API's payload
format 2.0 does accept a bare string; it is not changed here.)
"""

from __future__ import annotations

import json

from localcloud import seams
from localcloud.extension import Extension

INTERNAL_SERVER_ERROR = "Internal server error"


PROXY_RESPONSE_KEYS = {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"}


def is_proxy_response(answer) -> bool:
    if isinstance(answer, (str, bytes)):
        try:
            answer = json.loads(answer)
        except ValueError:
            return False
    if not isinstance(answer, dict) or not answer or set(answer) - PROXY_RESPONSE_KEYS:
        return False
    try:
        int(answer.get("statusCode", 200))
    except (TypeError, ValueError):
        return False
    multi = answer.get("multiValueHeaders")
    if multi is not None and not (isinstance(multi, dict) and all(isinstance(v, list) for v in multi.values())):
        return False
    return answer.get("headers") is None or isinstance(answer["headers"], dict)


def _as_aws_answers(proxy_response):
    def shape(result):
        if isinstance(result, dict) and not result.get("error") and not result.get("throttle") \
                and not is_proxy_response(result.get("body")):
            return None, INTERNAL_SERVER_ERROR
        response, error = proxy_response(result)
        return (response, INTERNAL_SERVER_ERROR) if error else (response, error)

    return shape


def needed() -> bool:
    return seams.apigateway.rest_proxy_error_message({"error": True, "body": {
        "errorMessage": "probe", "errorType": "Exception"}}) != INTERNAL_SERVER_ERROR


def install() -> None:
    seams.apigateway.wrap_rest_api_function("_lambda_proxy_response", _as_aws_answers)


EXTENSION = Extension(name="rest_api_proxy_errors", needed=needed, install=install)
