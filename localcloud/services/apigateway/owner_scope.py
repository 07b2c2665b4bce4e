"""execute-api URLs reach the API in its owner's account and region, whoever calls.

On AWS an API's URL names the API, and the API belongs to one account and region: an
unsigned ``curl``, a caller signing with its own account, or one signing for another
region all reach it (what the API's authorizers and resource policy allow is a separate
question). ministack 1.5.33 resolves the API id in the caller's request scope instead, so
a REST API, or an HTTP API's CORS preflight, answers only to callers from its own account
and region, and an unsigned request (scoped to account 000000000000) gets 404.

This extension runs ministack's execute-api handler in the owner's scope, for every URL
form LocalStack users know:

    http://<apiId>.execute-api.localhost.localstack.cloud:4566/<stage>/<path>
    http://127.0.0.1:4566/_aws/execute-api/<apiId>/<stage>/<path>
    http://127.0.0.1:4566/restapis/<apiId>/<stage>/_user_request_/<path>

and in AWS's own form, the URL CDK's ``RestApi.url`` output names (with the Host header,
``curl -H "Host: <apiId>.execute-api.us-east-1.amazonaws.com" http://127.0.0.1:4566/prod/``,
or from a function, whose HTTPS calls to AWS reach the local cloud).

API ids are unique on AWS; should two accounts hold the same id here, the caller's own
API wins.
"""

from __future__ import annotations

import os
import re

from localcloud import seams
from localcloud.extension import Extension


def owner(api_id: str) -> tuple[str, str] | None:
    """(account, region) owning the REST, HTTP or WebSocket API ``api_id``."""
    scopes = seams.apigateway.rest_api_scopes(api_id) or seams.apigateway.http_api_scopes(api_id)
    if not scopes:
        return None
    caller = (seams.current_account(), seams.current_region())
    if caller in scopes:
        return caller
    return next((scope for scope in scopes if scope[0] == caller[0]), scopes[0])


AWS_EXECUTE_API_HOST = re.compile(r"^(?P<api>[a-z0-9]+)\.execute-api\.[a-z0-9-]+\.amazonaws\.com(\.cn)?(:\d+)?$")


def local_host(host: str) -> str:
    """An execute-api host in AWS's form, as the local cloud names the same API."""
    match = AWS_EXECUTE_API_HOST.match(host.lower())
    if not match:
        return host
    return f"{match['api']}.execute-api.{os.environ.get('MINISTACK_HOST', 'localhost')}:{os.environ.get('GATEWAY_PORT', '4566')}"


def _in_owner_scope(handle_execute_api):
    async def handle(host, path, method, headers, body, query_params, *args, **kwargs):
        host = local_host(host)
        parsed = seams.apigatewayv2.parse_execute_api_url(host, path)
        found = owner(parsed[0]) if parsed else None
        if found is None:
            return await handle_execute_api(host, path, method, headers, body, query_params, *args, **kwargs)
        with seams.request_scope(*found):
            return await handle_execute_api(host, path, method, headers, body, query_params, *args, **kwargs)

    return handle


def needed() -> bool:
    return not seams.apigateway.probe_rest_api_visible_from_another_account()


def install() -> None:
    seams.apigateway.wrap_execute_api(_in_owner_scope)


EXTENSION = Extension(name="execute_api_owner_scope", needed=needed, install=install)
