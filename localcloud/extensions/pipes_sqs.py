"""EventBridge Pipes with an SQS source: the runtime ministack lacks.

ministack 1.5.33 stores pipes but polls DynamoDB streams only, and keeps neither
SourceParameters nor TargetParameters. This extension keeps each pipe's full definition
as created through the Pipes API or CloudFormation, and runs one poller per running pipe
whose source is an SQS queue:

* batches of up to BatchSize records, waiting up to MaximumBatchingWindowInSeconds to
  fill one (0: deliver what is there at once);
* FilterCriteria (EventBridge pattern syntax; a JSON body is matched as JSON) — records
  that match no filter are deleted, as AWS does;
* InputTemplate with ``<$.path>`` placeholders (a JSON body is addressable as JSON);
* targets: an event bus (with EventBridgeEventBusParameters source/detail-type), Step
  Functions, Lambda, SQS;
* a record is deleted only after its target accepted it; anything else stays on the
  queue, becomes visible again after the visibility timeout, and moves to the queue's
  dead-letter queue past maxReceiveCount.

Pipes with other sources are left to ministack.
"""

from __future__ import annotations

import copy
import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import unquote

from localcloud import seams
from localcloud.extensions import Extension, restore_tuple_keyed, tuple_keyed_state, wait_for_capacity

logger = logging.getLogger("localcloud.pipes")

IDLE_WAIT_S = 0.25  # re-check cadence for messages enqueued without a wake-up (internal sends)
FIELDS = ("Name", "Arn", "Source", "SourceParameters", "Target", "TargetParameters", "Enrichment",
          "EnrichmentParameters", "RoleArn", "DesiredState", "Description", "LogConfiguration")


@dataclass
class _Poller:
    key: tuple[str, str, str]
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None


_lock = threading.RLock()
_definitions: dict[tuple[str, str, str], dict] = {}  # (account, region, name) -> definition
_pollers: dict[tuple[str, str, str], _Poller] = {}
_running = False  # pollers start once the server's event loop runs

# Wake-ups: every successful SendMessage through the SQS API bumps the generation.
_wake = threading.Condition()
_generation = 0


def notify_enqueued() -> None:
    global _generation
    with _wake:
        _generation += 1
        _wake.notify_all()


def _wait_for_enqueue(seen: int, timeout: float) -> None:
    with _wake:
        if _generation == seen:
            _wake.wait(timeout)


# --- definitions ---------------------------------------------------------------------

def _is_sqs_source(definition: dict) -> bool:
    return str(definition.get("Source", "")).split(":")[2:3] == ["sqs"]


def remember(account: str, region: str, name: str, definition: dict) -> None:
    kept = {k: copy.deepcopy(v) for k, v in definition.items() if k in FIELDS and v is not None}
    kept["Name"] = name
    kept.setdefault("Arn", f"arn:aws:pipes:{region}:{account}:pipe/{name}")
    kept.setdefault("DesiredState", "RUNNING")
    with _lock:
        if _is_sqs_source(kept):
            _definitions[(account, region, name)] = kept
        else:
            _definitions.pop((account, region, name), None)
    _reconcile((account, region, name))


def update(account: str, region: str, name: str, changes: dict) -> None:
    with _lock:
        current = _definitions.get((account, region, name))
        if current is None:
            return
        merged = {**current, **{k: v for k, v in changes.items() if k in FIELDS and v is not None}}
    remember(account, region, name, merged)


def forget(account: str, region: str, name: str) -> None:
    with _lock:
        _definitions.pop((account, region, name), None)
    _reconcile((account, region, name))


def definition(account: str, region: str, name: str) -> dict | None:
    with _lock:
        found = _definitions.get((account, region, name))
        return copy.deepcopy(found) if found else None


# --- poller lifecycle ----------------------------------------------------------------------

def _reconcile(key: tuple[str, str, str]) -> None:
    """Start or stop the poller of ``key`` to match its definition's desired state."""
    with _lock:
        wanted = _running and key in _definitions and _definitions[key].get("DesiredState", "RUNNING") == "RUNNING" \
            and not _definitions[key].get("Enrichment")
        if key in _definitions and _definitions[key].get("Enrichment"):
            logger.error("pipe %s: enrichment is not supported by the local Pipes runtime; the pipe does not run", key[2])
        poller = _pollers.get(key)
        if wanted and (poller is None or not poller.thread or not poller.thread.is_alive()):
            poller = _Poller(key)
            poller.thread = threading.Thread(target=_poll, args=(poller,), name=f"pipe-{key[2]}", daemon=True)
            _pollers[key] = poller
            poller.thread.start()
        elif not wanted and poller is not None:
            poller.stop.set()
            _pollers.pop(key, None)
    if not wanted and poller is not None and poller.thread is not threading.current_thread():
        poller.thread.join(timeout=5)


def start() -> None:
    global _running
    with _lock:
        _running = True
        keys = list(_definitions)
    for key in keys:
        _reconcile(key)


def stop() -> None:
    global _running
    with _lock:
        _running = False
        pollers = list(_pollers.values())
        _pollers.clear()
    for poller in pollers:
        poller.stop.set()
    notify_enqueued()
    for poller in pollers:
        if poller.thread:
            poller.thread.join(timeout=5)


# --- the poll loop ---------------------------------------------------------------------------

def _queue_scope(queue_arn: str) -> tuple[str, str]:
    parts = queue_arn.split(":")
    return parts[4], parts[3]


def _receive(definition: dict, queue_url: str, queue_arn: str, limit: int) -> list[dict]:
    account, region = _queue_scope(queue_arn)
    with seams.request_scope(account, region):
        messages = seams.sqs_receive_for_poller(queue_url, limit)
    return [seams.sqs_message_record(m, queue_arn, region) for m in messages]


def _delete(queue_url: str, queue_arn: str, receipt_handles: set[str]) -> None:
    if not receipt_handles:
        return
    account, region = _queue_scope(queue_arn)
    with seams.request_scope(account, region):
        seams.sqs_delete_for_poller(queue_url, receipt_handles)


def _collect_batch(poller: _Poller, definition: dict, queue_url: str, queue_arn: str) -> list[dict]:
    parameters = (definition.get("SourceParameters") or {}).get("SqsQueueParameters") or {}
    batch_size = max(1, min(int(parameters.get("BatchSize", 10)), 10_000))
    window = float(parameters.get("MaximumBatchingWindowInSeconds", 0) or 0)
    seen = _generation
    batch = _receive(definition, queue_url, queue_arn, min(batch_size, 10))
    if not batch:
        _wait_for_enqueue(seen, IDLE_WAIT_S)
        return []
    deadline = time.monotonic() + window
    while len(batch) < batch_size and not poller.stop.is_set():
        seen = _generation
        more = _receive(definition, queue_url, queue_arn, min(batch_size - len(batch), 10))
        batch.extend(more)
        if more:
            continue
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        _wait_for_enqueue(seen, min(remaining, IDLE_WAIT_S))
    return batch


def _poll(poller: _Poller) -> None:
    account, region, name = poller.key
    queue_url = None
    while not poller.stop.is_set():
        current = definition(account, region, name)
        if current is None:
            return
        try:
            queue_arn = current["Source"]
            if queue_url is None:
                queue_url = seams.sqs_queue_url_for_arn(queue_arn)
                if queue_url is None:
                    poller.stop.wait(1.0)
                    continue
            wait_for_capacity()
            if poller.stop.is_set():
                return
            batch = _collect_batch(poller, current, queue_url, queue_arn)
            if not batch:
                continue
            with seams.request_scope(account, region):
                accepted = process_batch(current, batch)
            _delete(queue_url, queue_arn, accepted)
        except Exception:
            logger.exception("pipe %s: poll failed; retrying", name)
            queue_url = None
            poller.stop.wait(1.0)


# --- records -> target -------------------------------------------------------------------------

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
    return any(seams.pattern_matches(p, view) for p in patterns)


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
    return seams.render_input_template(template, values)


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


def _call(service: str, action: str, payload: dict) -> tuple[int, dict]:
    return seams.call_json_api_sync(service, action, seams.current_account(), seams.current_region(), payload)


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
        status, body = _call("events", "PutEvents", {"Entries": entries})
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
    status, body = _call("states", "StartSyncExecution" if sync else "StartExecution",
                         {"stateMachineArn": definition["Target"], "input": _batch_payload(payloads)})
    ok = status < 400 and (not sync or body.get("status") == "SUCCEEDED")
    if not ok:
        logger.warning("pipe %s: Step Functions target refused the batch: %s", definition["Name"], body)
    return [ok] * len(records)


def _to_lambda(definition: dict, records: list[dict], payloads: list[str]) -> list[bool]:
    parameters = (definition.get("TargetParameters") or {}).get("LambdaFunctionParameters") or {}
    invocation = "Event" if parameters.get("InvocationType") == "FIRE_AND_FORGET" else "RequestResponse"
    ok = seams.invoke_lambda(definition["Target"], _batch_payload(payloads), invocation)
    if not ok:
        logger.warning("pipe %s: Lambda target %s failed the batch", definition["Name"], definition["Target"])
    return [ok] * len(records)


def _to_queue(definition: dict, records: list[dict], payloads: list[str]) -> list[bool]:
    parameters = (definition.get("TargetParameters") or {}).get("SqsQueueParameters") or {}
    queue_url = seams.sqs_queue_url_for_arn(definition["Target"])
    if queue_url is None:
        logger.warning("pipe %s: target queue %s does not exist", definition["Name"], definition["Target"])
        return [False] * len(records)
    results = []
    for payload in payloads:
        request = {"QueueUrl": queue_url, "MessageBody": payload}
        for key in ("MessageGroupId", "MessageDeduplicationId"):
            if parameters.get(key):
                request[key] = parameters[key]
        status, body = _call("sqs", "SendMessage", request)
        results.append(status < 400)
    return results


_TARGETS = {"events": _to_event_bus, "states": _to_state_machine, "lambda": _to_lambda, "sqs": _to_queue}


# --- capture: Pipes API and CloudFormation ------------------------------------------------------

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


# --- extension -----------------------------------------------------------------------------

def state() -> dict:
    with _lock:
        return {"pipes": tuple_keyed_state(_definitions)}


def restore(data: dict) -> None:
    with _lock:
        restore_tuple_keyed(_definitions, data.get("pipes", []))


def needed() -> bool:
    """ministack's own poller reads DynamoDB streams only (1.5.33); a release that
    keeps SourceParameters is expected to run SQS sources too."""
    return not seams.pipes_keep_source_parameters()


def install() -> None:
    seams.wrap_service_handler("pipes", _wrap_pipes_handler)
    seams.wrap_service_handler("sqs", _wrap_sqs_handler)
    table = seams.cfn_resource_handlers()
    table["AWS::Pipes::Pipe"] = _wrap_cfn_pipe(table["AWS::Pipes::Pipe"])


EXTENSION = Extension(name="pipes_sqs", needed=needed, install=install, start=start, stop=stop,
                      state=state, restore=restore)
