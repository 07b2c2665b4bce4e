"""API Gateway (REST APIs, v1) and the execute-api data plane ministack serves for both
REST and HTTP APIs."""

from __future__ import annotations

from collections.abc import Callable

from localcloud.seams.core import ministack_app


def wrap_execute_api(make_wrapper: Callable[[Callable], Callable]) -> None:
    """``_handle_execute_api_request(host, path, method, headers, body, query_params, ...)``
    serves every execute-api URL form (REST and HTTP APIs, CORS preflights included) in
    the request's scope; the ASGI app looks it up by name."""
    app = ministack_app()
    app._handle_execute_api_request = make_wrapper(app._handle_execute_api_request)


def rest_api_scopes(api_id: str) -> list[tuple[str, str]]:
    """(account, region) of every REST API with this id, in any account."""
    from ministack.services import apigateway_v1

    return [(account, region) for (account, region, stored), _api in apigateway_v1._rest_apis.all_items()
            if stored == api_id]


def http_api_scopes(api_id: str) -> list[tuple[str, str]]:
    """(account, region) of every HTTP or WebSocket API with this id, in any account."""
    from ministack.services import apigateway

    return [(account, region) for (account, region, stored), _api in apigateway._apis.all_items()
            if stored == api_id]


def probe_rest_api_visible_from_another_account() -> bool:
    """Probe: does ministack's execute-api data plane find a REST API created in one
    account when called from another (unsigned callers land in a default account)?"""
    from ministack.services import apigateway_v1

    from localcloud.seams.core import PROBE_ACCOUNT_A, PROBE_ACCOUNT_B, PROBE_REGION, decode_json, request_scope

    with request_scope(PROBE_ACCOUNT_A, PROBE_REGION):
        status, _headers, body = apigateway_v1._create_rest_api({"name": "localcloud-probe"})
        api_id = decode_json(status, body)[1]["id"]
    try:
        with request_scope(PROBE_ACCOUNT_B, PROBE_REGION):
            return apigateway_v1.find_api_scope(api_id) is not None
    finally:
        with request_scope(PROBE_ACCOUNT_A, PROBE_REGION):
            apigateway_v1._delete_rest_api(api_id)


def http_api_record(api_id: str) -> dict | None:
    """ministack's stored record of an HTTP API (current request scope)."""
    from ministack.services import apigateway

    return apigateway._apis.get(api_id)


def wrap_rest_api_function(name: str, make_wrapper: Callable[[Callable], Callable]) -> None:
    """Wrap a function of ministack's REST API data plane looked up by name:
    ``_lambda_proxy_response(result) -> (proxy response | None, error message | None)``."""
    from ministack.services import apigateway_v1

    setattr(apigateway_v1, name, make_wrapper(getattr(apigateway_v1, name)))


def rest_proxy_error_message(result: dict) -> str | None:
    """The error message a REST API's Lambda proxy answers for an invocation ``result``."""
    from ministack.services import apigateway_v1

    return apigateway_v1._lambda_proxy_response(result)[1]


def wrap_rest_api_lambda_invocations(make_wrapper: Callable[[Callable], Callable]) -> None:
    """Wrap the REST API data plane's Lambda integrations (AWS_PROXY and AWS):
    ``async (integration, api_id, stage_name, stage, resource, request_path, method, headers,
    body, query_params, path_params, *, owner_account_id, owner_region, ...)`` returning
    ``(status, headers, body)``; ``integration`` holds ``uri`` and ``credentials``."""
    from ministack.services import apigateway_v1

    for name in ("_invoke_lambda_proxy_v1", "_invoke_lambda_custom_v1"):
        setattr(apigateway_v1, name, make_wrapper(getattr(apigateway_v1, name)))


def rest_integration_function(integration: dict) -> str:
    """The function (name or ARN) a REST API Lambda integration's URI names."""
    from ministack.services import apigateway_v1

    return apigateway_v1._extract_lambda_ref_from_integration_uri(integration.get("uri", ""))
