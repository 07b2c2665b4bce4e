"""Every point where the local cloud touches ministack, one module per concern.

Upgrading ministack means re-checking this package only: ``core`` (the app, its
service-handler registry, request scoping, in-process calls) and one module per service
or concern. We use ministack's registries and public helpers and call its AWS APIs
in-process; where a behaviour has no registry we wrap the one module function that
performs it and delegate to the original for everything we do not change. No ministack
code is copied here.
"""

from localcloud.seams import (  # the package's face: seams.events.…, seams.sqs.…
    apigateway,
    apigatewayv2,
    authentication,
    awslambda,
    cloudformation,
    cloudwatch,
    dynamodb,
    event_archives,
    events,
    firehose,
    iam,
    kinesis,
    kms,
    logs,
    organizations,
    persistence,
    pipes,
    router,
    s3,
    scopes,
    secretsmanager,
    sqs,
    states,
)
from localcloud.seams.core import (
    ServiceHandler,
    acting,
    call_handler_sync,
    call_json_api,
    call_json_api_sync,
    call_query_api_sync,
    current_account,
    current_region,
    decode_json,
    error_response,
    install_in_process_authorizer,
    json_response,
    ministack_app,
    ministack_version,
    new_id,
    request_scope,
    service_handler,
    set_acting,
    wrap_service_handler,
)

__all__ = [
    "apigateway", "apigatewayv2", "authentication", "awslambda", "cloudformation", "cloudwatch", "dynamodb",
    "event_archives", "events", "firehose", "iam", "kinesis", "kms", "logs", "organizations", "persistence", "pipes", "router",
    "s3", "scopes", "secretsmanager", "sqs", "states",
    "ServiceHandler", "acting", "call_handler_sync", "call_json_api", "call_json_api_sync", "call_query_api_sync",
    "current_account", "current_region", "decode_json", "error_response", "install_in_process_authorizer",
    "json_response", "ministack_app", "ministack_version", "new_id", "request_scope", "service_handler",
    "set_acting", "wrap_service_handler",
]
