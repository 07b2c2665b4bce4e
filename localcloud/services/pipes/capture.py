"""Pipe definitions as created through the Pipes API and CloudFormation.

ministack 1.5.33 keeps neither SourceParameters nor TargetParameters; the runtime keeps
the full definition and DescribePipe answers with it.
"""

from __future__ import annotations

import json
from urllib.parse import unquote

from localcloud import seams
from localcloud.services.pipes.runtime import _definitions, _lock, definition, forget, notify_enqueued, remember, update
from localcloud.state import restore_tuple_keyed, tuple_keyed_state


def _wrap_pipes_handler(original):
    async def handle(method, path, headers, body, query_params):
        status, response_headers, response = await original(method, path, headers, body, query_params)
        if status >= 400 or not path.startswith("/v1/pipes/"):
            return status, response_headers, response
        account, region = seams.current_account(), seams.current_region()
        rest = path[len("/v1/pipes/"):]
        try:
            request = json.loads(body) if body else {}
        except ValueError:
            request = {}
        for suffix, state in (("/start", "RUNNING"), ("/stop", "STOPPED")):
            if rest.endswith(suffix):
                update(account, region, unquote(rest[: -len(suffix)]), {"DesiredState": state})
                return status, response_headers, response
        name = unquote(rest)
        if method == "POST":
            remember(account, region, name, {**request, "Name": name, "Arn": json.loads(response).get("Arn")})
        elif method == "PUT":
            update(account, region, name, request)
        elif method == "DELETE":
            forget(account, region, name)
        elif method == "GET":
            kept = definition(account, region, name)
            if kept:
                described = json.loads(response)
                for key in ("SourceParameters", "TargetParameters", "Enrichment", "EnrichmentParameters", "LogConfiguration"):
                    if kept.get(key) is not None:
                        described[key] = kept[key]
                return status, response_headers, json.dumps(described).encode()
        return status, response_headers, response

    return handle


def _wrap_sqs_handler(original):
    async def handle(method, path, headers, body, query_params):
        result = await original(method, path, headers, body, query_params)
        if result[0] < 400:
            notify_enqueued()
        return result

    return handle


def _wrap_cfn_pipe(handlers: dict) -> dict:
    create, update_handler, delete = handlers["create"], handlers.get("update"), handlers["delete"]

    def on_create(logical_id, props, stack_name):
        physical_id, attrs = create(logical_id, props, stack_name)
        remember(seams.current_account(), seams.current_region(), physical_id, {**props, "Arn": attrs.get("Arn")})
        return physical_id, attrs

    def on_update(physical_id, old_props, new_props, stack_name, *logical_id):
        new_id, attrs = update_handler(physical_id, old_props, new_props, stack_name, *logical_id)
        account, region = seams.current_account(), seams.current_region()
        if new_id != physical_id:
            forget(account, region, physical_id)
        remember(account, region, new_id, {**new_props, "Arn": attrs.get("Arn")})
        return new_id, attrs

    def on_delete(physical_id, props, *logical_id):
        forget(seams.current_account(), seams.current_region(), physical_id)
        delete(physical_id, props, *logical_id)

    wrapped = dict(handlers, create=on_create, delete=on_delete)
    if update_handler:
        wrapped["update"] = on_update
    return wrapped


# --- persistence and probe ---------------------------------------------------------------

def state() -> dict:
    with _lock:
        return {"pipes": tuple_keyed_state(_definitions)}


def restore(data: dict) -> None:
    with _lock:
        restore_tuple_keyed(_definitions, data.get("pipes", []))


def needed() -> bool:
    """ministack's own poller reads DynamoDB streams only (1.5.33); a release that
    keeps SourceParameters is expected to run SQS sources too."""
    return not seams.pipes.probe_keeps_source_parameters()


def install() -> None:
    seams.wrap_service_handler("pipes", _wrap_pipes_handler)
    seams.wrap_service_handler("sqs", _wrap_sqs_handler)
    table = seams.cloudformation.resource_handlers()
    table["AWS::Pipes::Pipe"] = _wrap_cfn_pipe(table["AWS::Pipes::Pipe"])
