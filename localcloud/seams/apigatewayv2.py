"""HTTP APIs (API Gateway v2): ministack's URL parsing, route matching, stages and data plane."""

from __future__ import annotations

import json

from localcloud.seams.core import ministack_app, request_scope


def parse_execute_api_url(host: str, path: str) -> tuple[str, str, str] | None:
    return ministack_app()._parse_execute_api_url(host, path)


def resolve_stage_and_path(api_id: str, stage: str, path: str) -> tuple[str, str]:
    return ministack_app()._resolve_stage_and_path(api_id, stage, path)


def route(api_id: str, method: str, path: str) -> dict | None:
    """The route an HTTP API would select (call inside the API's request scope)."""
    from ministack.services import apigateway

    return apigateway._match_route(api_id, method, path)


def stage_exists(api_id: str, stage: str) -> bool:
    from ministack.services import apigateway

    return stage in (apigateway._stages.get(api_id) or {})


def path_parameters(route_key: str, path: str) -> dict:
    from ministack.services import apigateway

    parts = route_key.split(" ", 1)
    return (apigateway._extract_path_params(parts[1], path) or {}) if len(parts) == 2 else {}


def access_log_settings(account: str, region: str, api_id: str, stage: str) -> dict | None:
    from ministack.services import apigateway

    with request_scope(account, region):
        record = (apigateway._stages.get(api_id) or {}).get(stage) or {}
    return record.get("accessLogSettings")


def probe_keeps_integration_subtype() -> bool:
    """Probe: does ministack store an integration's subtype (and so serve it)?"""
    from ministack.services import apigateway

    with request_scope("000000000000", "us-east-1"):
        _status, _headers, body = apigateway._create_api({"name": "localcloud-probe", "protocolType": "HTTP"})
        api_id = json.loads(body)["apiId"]
        try:
            apigateway._create_integration(api_id, {"integrationType": "AWS_PROXY",
                                                    "integrationSubtype": "SQS-SendMessage",
                                                    "payloadFormatVersion": "1.0"})
            items = json.loads(apigateway._get_integrations(api_id)[2]).get("items") or []
            return bool(items) and items[0].get("integrationSubtype") == "SQS-SendMessage"
        finally:
            apigateway._delete_api(api_id)


def owner(api_id: str) -> tuple[str, str] | None:
    """(account, region) of the HTTP API ``api_id`` in any account (ids are unique)."""
    from ministack.services import apigateway

    for (account, region, stored_api_id), _api in apigateway._apis.all_items():
        if stored_api_id == api_id:
            return account, region
    return None


async def execute(api_id, stage, path, method, headers, body, query_params):
    """ministack's own HTTP API data plane (Lambda and HTTP proxies), current scope."""
    from ministack.services import apigateway

    return await apigateway.handle_execute(api_id, stage, path, method, headers, body,
                                           {k: [v] for k, v in query_params.items()})
