"""CloudFormation: AWS::ApiGatewayV2::Api keeps its CorsConfiguration.

ministack 1.5.33 stores the template's ``CorsConfiguration`` as written (``AllowOrigins``,
``AllowMethods``, …) where its HTTP API reads ``allowOrigins``, ``allowMethods``: GetApi
shows no CORS configuration and every preflight is refused (403). The configuration is
handed to ministack in the API's own casing, on create and on update.
"""

from __future__ import annotations

from localcloud import seams
from localcloud.extension import Extension
from localcloud.services.cloudformation.properties import with_api_casing

HTTP_API = "AWS::ApiGatewayV2::Api"


def cors_configuration(props: dict) -> dict:
    """``props`` with its CorsConfiguration in the casing ministack's HTTP API reads."""
    return with_api_casing(props, "CorsConfiguration", booleans={"allowCredentials": None}, integers=("maxAge",))


def _wrap(handlers: dict) -> dict:
    create, update = handlers["create"], handlers["update"]

    def on_create(logical_id, props, stack_name, *rest):
        return create(logical_id, cors_configuration(props), stack_name, *rest)

    def on_update(physical_id, old_props, new_props, stack_name, *rest):
        return update(physical_id, cors_configuration(old_props), cors_configuration(new_props), stack_name, *rest)

    return dict(handlers, create=on_create, update=on_update)


def needed() -> bool:
    def stored_cors(api_id: str) -> dict:
        return (seams.apigateway.http_api_record(api_id) or {}).get("corsConfiguration") or {}

    stored = seams.cloudformation.probe_resource(HTTP_API, {
        "Name": "localcloud-probe", "ProtocolType": "HTTP",
        "CorsConfiguration": {"AllowOrigins": ["https://probe.example"]}}, stored_cors)
    return stored.get("allowOrigins") != ["https://probe.example"]


def install() -> None:
    table = seams.cloudformation.resource_handlers()
    table[HTTP_API] = _wrap(table[HTTP_API])


EXTENSION = Extension(name="cfn_http_api_cors", needed=needed, install=install)
