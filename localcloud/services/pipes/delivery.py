"""A pipe's batch on its way to the target: filters, input templates, the target call.

A record is deletable from the source once its target accepted it, or once the pipe's
filters dropped it; anything else stays on the source.
"""

from __future__ import annotations

import json
import logging
import re
import time

from localcloud import seams

logger = logging.getLogger("localcloud.pipes")


def _record_for_matching(record: dict) -> dict:
    """Pipes address a JSON body as JSON (``$.body.amount``, ``{"body": {...}}``)."""
    view = dict(record)
    try:
        view["body"] = json.loads(record["body"])
    except (ValueError, TypeError):
        pass
    return view


def _passes_filters(definition: dict, record: dict) -> bool:
    filters = ((definition.get("SourceParameters") or {}).get("FilterCriteria") or {}).get("Filters") or []
    patterns = [f.get("Pattern") for f in filters if isinstance(f, dict) and f.get("Pattern")]
    if not patterns:
        return True
    view = _record_for_matching(record)
    return any(seams.events.pattern_matches(p, view) for p in patterns)


def _json_path(document, path: str):
    current = document
    for token in path.removeprefix("$").replace("[", ".[").split("."):
        if not token:
            continue
        if token.startswith("["):
            index = int(token.strip("[]"))
            current = current[index] if isinstance(current, list) and -len(current) <= index < len(current) else None
        else:
            current = current.get(token) if isinstance(current, dict) else None
        if current is None:
            return None
    return current


def transform(definition: dict, record: dict, pipe_name: str) -> str:
    """The payload one record becomes: the record itself, or the rendered InputTemplate."""
    template = (definition.get("TargetParameters") or {}).get("InputTemplate")
    if not template:
        return json.dumps(record, separators=(",", ":"))
    view = _record_for_matching(record)
    values = {}
    for placeholder in set(_placeholders(template)):
        if placeholder.startswith("$"):
            values[placeholder] = _json_path(view, placeholder)
        elif placeholder == "aws.pipes.event.json":
            values[placeholder] = view
        elif placeholder == "aws.pipes.event":
            values[placeholder] = json.dumps(record, separators=(",", ":"))
        elif placeholder == "aws.pipes.pipe-name":
            values[placeholder] = pipe_name
        elif placeholder == "aws.pipes.pipe-arn":
            values[placeholder] = definition.get("Arn", "")
        elif placeholder == "aws.pipes.source-arn":
            values[placeholder] = definition.get("Source", "")
        elif placeholder == "aws.pipes.target-arn":
            values[placeholder] = definition.get("Target", "")
        elif placeholder == "aws.pipes.event.ingestion-time":
            values[placeholder] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return seams.events.render_input_template(template, values)


def _placeholders(template: str) -> list[str]:
    return re.findall(r"<([^<>]+)>", template)


def process_batch(definition: dict, batch: list[dict]) -> set[str]:
    """Deliver a batch; return the receipt handles that may be deleted (delivered, or
    filtered out)."""
    name = definition["Name"]
    deletable = set()
    selected = []
    for record in batch:
        if _passes_filters(definition, record):
            selected.append(record)
        else:
            deletable.add(record["receiptHandle"])
    if not selected:
        return deletable
    payloads = [transform(definition, r, name) for r in selected]
    target = definition.get("Target", "")
    service = target.split(":")[2] if target.count(":") >= 5 else ""
    deliver = _TARGETS.get(service)
    if deliver is None:
        logger.error("pipe %s: target %s is not supported by the local Pipes runtime; records stay queued", name, target)
        return deletable
    delivered = deliver(definition, selected, payloads)
    return deletable | {r["receiptHandle"] for r, ok in zip(selected, delivered) if ok}


def _call(definition: dict, service: str, action: str, payload: dict) -> tuple[int, dict]:
    """Call the target's API as the pipe's role."""
    return seams.call_json_api_sync(service, action, seams.current_account(), seams.current_region(), payload,
                                    principal=definition.get("RoleArn", ""))


def _to_event_bus(definition: dict, records: list[dict], payloads: list[str]) -> list[bool]:
    parameters = (definition.get("TargetParameters") or {}).get("EventBridgeEventBusParameters") or {}
    source = parameters.get("Source") or f"Pipe {definition['Name']}"
    detail_type = parameters.get("DetailType") or "Event from aws:sqs"
    results = []
    for start in range(0, len(payloads), 10):
        chunk = payloads[start:start + 10]
        entries = [{
            "EventBusName": definition["Target"],
            "Source": source,
            "DetailType": detail_type,
            "Detail": payload,
            "Resources": list(parameters.get("Resources") or []),
        } for payload in chunk]
        status, body = _call(definition, "events", "PutEvents", {"Entries": entries})
        if status >= 400:
            logger.warning("pipe %s: PutEvents on %s failed: %s", definition["Name"], definition["Target"], body)
            results.extend([False] * len(chunk))
            continue
        outcomes = body.get("Entries") or []
        for index in range(len(chunk)):
            ok = index < len(outcomes) and "EventId" in outcomes[index]
            if not ok:
                logger.warning("pipe %s: event not accepted by %s: %s", definition["Name"], definition["Target"],
                               outcomes[index] if index < len(outcomes) else body)
            results.append(ok)
    return results


def _batch_payload(payloads: list[str]) -> str:
    return "[" + ",".join(payloads) + "]"


def _to_state_machine(definition: dict, records: list[dict], payloads: list[str]) -> list[bool]:
    parameters = (definition.get("TargetParameters") or {}).get("StepFunctionStateMachineParameters") or {}
    sync = parameters.get("InvocationType", "FIRE_AND_FORGET") == "REQUEST_RESPONSE"
    status, body = _call(definition, "states", "StartSyncExecution" if sync else "StartExecution",
                         {"stateMachineArn": definition["Target"], "input": _batch_payload(payloads)})
    ok = status < 400 and (not sync or body.get("status") == "SUCCEEDED")
    if not ok:
        logger.warning("pipe %s: Step Functions target refused the batch: %s", definition["Name"], body)
    return [ok] * len(records)


def _to_lambda(definition: dict, records: list[dict], payloads: list[str]) -> list[bool]:
    parameters = (definition.get("TargetParameters") or {}).get("LambdaFunctionParameters") or {}
    invocation = "Event" if parameters.get("InvocationType") == "FIRE_AND_FORGET" else "RequestResponse"
    ok = seams.awslambda.invoke(definition["Target"], _batch_payload(payloads), invocation,
                                principal=definition.get("RoleArn", ""))
    if not ok:
        logger.warning("pipe %s: Lambda target %s failed the batch", definition["Name"], definition["Target"])
    return [ok] * len(records)


def _to_queue(definition: dict, records: list[dict], payloads: list[str]) -> list[bool]:
    parameters = (definition.get("TargetParameters") or {}).get("SqsQueueParameters") or {}
    queue_url = seams.sqs.queue_url_for_arn(definition["Target"])
    if queue_url is None:
        logger.warning("pipe %s: target queue %s does not exist", definition["Name"], definition["Target"])
        return [False] * len(records)
    results = []
    for payload in payloads:
        request = {"QueueUrl": queue_url, "MessageBody": payload}
        for key in ("MessageGroupId", "MessageDeduplicationId"):
            if parameters.get(key):
                request[key] = parameters[key]
        status, body = _call(definition, "sqs", "SendMessage", request)
        results.append(status < 400)
    return results


_TARGETS = {"events": _to_event_bus, "states": _to_state_machine, "lambda": _to_lambda, "sqs": _to_queue}
