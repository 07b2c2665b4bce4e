"""Runtimes AWS no longer lets anyone create or update a function with.

After a runtime's "block function update" date Lambda refuses CreateFunction and any
change that keeps the runtime, with ``InvalidParameterValueException: The runtime
parameter of nodejs12.x is no longer supported for creating or updating AWS Lambda
functions. …`` (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html,
"Runtime use after deprecation"); a CloudFormation stack fails on that resource with the
same message. ministack 1.5.33 accepts any runtime name, so a sample pinned to an old
runtime deployed locally and failed on AWS.

Only runtimes blocked for good long ago are listed (deprecated 2016-2024, refusals
recorded in public reports). AWS has moved the block dates of recently deprecated runtimes
(Node.js 16-20, Python 3.8-3.10, ...) more than once, so those are not refused here.
"""

from __future__ import annotations

import json
import re

from localcloud import seams
from localcloud.extension import Extension

RETIRED = frozenset({
    "nodejs", "nodejs4.3", "nodejs4.3-edge", "nodejs6.10", "nodejs8.10", "nodejs10.x", "nodejs12.x", "nodejs14.x",
    "python2.7", "python3.6", "python3.7",
    "dotnetcore1.0", "dotnetcore2.0", "dotnetcore2.1", "dotnetcore3.1",
    "ruby2.5",
})
_FUNCTIONS = re.compile(r"^/2015-03-31/functions/?$")
_CONFIGURATION = re.compile(r"^/2015-03-31/functions/[^/]+/configuration/?$")
FUNCTION = "AWS::Lambda::Function"


def refusal(runtime: str | None) -> str | None:
    """AWS's message when ``runtime`` can no longer be used for a function, else None."""
    if runtime not in RETIRED:
        return None
    return (f"The runtime parameter of {runtime} is no longer supported for creating or updating AWS Lambda "
            "functions. We recommend you use a supported runtime while creating or updating functions.")


def _requested_runtime(method: str, path: str, body: bytes) -> str | None:
    if not ((method == "POST" and _FUNCTIONS.match(path)) or (method == "PUT" and _CONFIGURATION.match(path))):
        return None
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        return None
    return request.get("Runtime") if isinstance(request, dict) else None


def _wrap_lambda_handler(original):
    async def handle(method, path, headers, body, query_params):
        message = refusal(_requested_runtime(method, path, body))
        if message:
            return seams.error_response("InvalidParameterValueException", message, 400)
        return await original(method, path, headers, body, query_params)

    return handle


def _wrap_cloudformation(handlers: dict) -> dict:
    create, update = handlers["create"], handlers["update"]

    def on_create(logical_id, props, stack_name, *rest):
        message = refusal((props or {}).get("Runtime"))
        if message:
            raise ValueError(message)
        return create(logical_id, props, stack_name, *rest)

    def on_update(physical_id, old_props, new_props, stack_name, *rest):
        message = refusal((new_props or {}).get("Runtime"))
        if message:
            raise ValueError(message)
        return update(physical_id, old_props, new_props, stack_name, *rest)

    return dict(handlers, create=on_create, update=on_update)


def needed() -> bool:
    return seams.awslambda.accepts_runtime("nodejs8.10")


def install() -> None:
    seams.wrap_service_handler("lambda", _wrap_lambda_handler)
    table = seams.cloudformation.resource_handlers()
    table[FUNCTION] = _wrap_cloudformation(table[FUNCTION])


EXTENSION = Extension(name="lambda_retired_runtimes", needed=needed, install=install)
