"""HTTP API integrations as created: the definitions ministack does not keep.

ministack 1.5.33 stores an AWS_PROXY integration's subtype as null. This module keeps
the full definition (IntegrationSubtype, CredentialsArn, RequestParameters) as it is
created through the API or CloudFormation, for the data plane to serve.
"""

from __future__ import annotations

import json
import threading

from localcloud import seams
from localcloud.state import restore_tuple_keyed, tuple_keyed_state

CAPTURED_FIELDS = ("IntegrationSubtype", "CredentialsArn", "RequestParameters", "TimeoutInMillis")

_lock = threading.Lock()
# (account, region, api id) -> {integration id -> captured definition}
_integrations: dict[tuple[str, str, str], dict[str, dict]] = {}


# --- capture ---------------------------------------------------------------------------

def remember(account: str, region: str, api_id: str, integration_id: str, definition: dict) -> None:
    kept = {k: v for k, v in definition.items() if k in CAPTURED_FIELDS and v is not None}
    with _lock:
        if kept.get("IntegrationSubtype"):
            _integrations.setdefault((account, region, api_id), {})[integration_id] = kept
        else:
            _integrations.get((account, region, api_id), {}).pop(integration_id, None)


def forget(account: str, region: str, api_id: str, integration_id: str | None = None) -> None:
    with _lock:
        if integration_id is None:
            _integrations.pop((account, region, api_id), None)
        else:
            _integrations.get((account, region, api_id), {}).pop(integration_id, None)


def captured(account: str, region: str, api_id: str, integration_id: str) -> dict | None:
    return _integrations.get((account, region, api_id), {}).get(integration_id)


def _camel_to_pascal(body: dict) -> dict:
    return {key[:1].upper() + key[1:]: value for key, value in body.items()}


def _pascal_to_camel(definition: dict) -> dict:
    return {key[:1].lower() + key[1:]: value for key, value in definition.items()}


def _integration_path(path: str) -> tuple[str, str | None] | None:
    """(api id, integration id or None) for /v2/apis/{api}/integrations[/{id}]."""
    parts = path.strip("/").split("/")
    if len(parts) >= 4 and parts[0] == "v2" and parts[1] == "apis" and parts[3] == "integrations":
        return parts[2], (parts[4] if len(parts) > 4 else None)
    return None


def _wrap_apigateway_handler(original):
    async def handle(method, path, headers, body, query_params):
        status, response_headers, response = await original(method, path, headers, body, query_params)
        if status >= 400:
            return status, response_headers, response
        account, region = seams.current_account(), seams.current_region()
        parts = path.strip("/").split("/")
        if method == "DELETE" and len(parts) == 3 and parts[:2] == ["v2", "apis"]:
            forget(account, region, parts[2])
            return status, response_headers, response
        target = _integration_path(path)
        if target is None:
            return status, response_headers, response
        api_id, integration_id = target
        try:
            request = json.loads(body) if body else {}
            result = json.loads(response) if response else {}
        except ValueError:
            return status, response_headers, response
        if method == "POST" and integration_id is None:
            remember(account, region, api_id, result.get("integrationId", ""), _camel_to_pascal(request))
        elif method == "PATCH" and integration_id:
            merged = {**(captured(account, region, api_id, integration_id) or {}), **_camel_to_pascal(request)}
            remember(account, region, api_id, integration_id, merged)
        elif method == "DELETE" and integration_id:
            forget(account, region, api_id, integration_id)
            return status, response_headers, response
        # Reads return what was stored, as AWS does (ministack answers null for these fields).
        if isinstance(result.get("items"), list):
            for item in result["items"]:
                item.update(_pascal_to_camel(captured(account, region, api_id, item.get("integrationId", "")) or {}))
        elif result.get("integrationId"):
            result.update(_pascal_to_camel(captured(account, region, api_id, result["integrationId"]) or {}))
        return status, response_headers, json.dumps(result).encode()

    return handle


def _wrap_cfn_integration(handlers: dict) -> dict:
    create, update, delete = handlers["create"], handlers.get("update"), handlers["delete"]

    def on_create(logical_id, props, stack_name):
        physical_id, attrs = create(logical_id, props, stack_name)
        remember(seams.current_account(), seams.current_region(), props.get("ApiId", ""), physical_id, props)
        return physical_id, attrs

    def on_update(physical_id, old_props, new_props, stack_name, *logical_id):
        new_id, attrs = update(physical_id, old_props, new_props, stack_name, *logical_id)
        account, region = seams.current_account(), seams.current_region()
        if new_id != physical_id:
            forget(account, region, old_props.get("ApiId", ""), physical_id)
        remember(account, region, new_props.get("ApiId", ""), new_id, new_props)
        return new_id, attrs

    def on_delete(physical_id, props, *logical_id):
        delete(physical_id, props, *logical_id)
        forget(seams.current_account(), seams.current_region(), props.get("ApiId", ""), physical_id)

    wrapped = dict(handlers, create=on_create, delete=on_delete)
    if update:
        wrapped["update"] = on_update
    return wrapped


# --- persistence and probe ---------------------------------------------------------------

def state() -> dict:
    with _lock:
        return {"integrations": tuple_keyed_state(_integrations)}


def restore(data: dict) -> None:
    with _lock:
        restore_tuple_keyed(_integrations, data.get("integrations", []))


def needed() -> bool:
    """ministack answers an SQS-SendMessage route with 502 and stores no subtype; a
    release that keeps IntegrationSubtype serves these integrations itself."""
    return not seams.apigatewayv2.probe_keeps_integration_subtype()


def install() -> None:
    seams.wrap_service_handler("apigateway", _wrap_apigateway_handler)
    table = seams.cloudformation.resource_handlers()
    table["AWS::ApiGatewayV2::Integration"] = _wrap_cfn_integration(table["AWS::ApiGatewayV2::Integration"])
