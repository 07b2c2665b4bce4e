"""The Pipes API (REST-JSON), served in place of ministack's: every parameter is kept
and the pipe's state moves as AWS documents it.

https://docs.aws.amazon.com/eventbridge/latest/pipes-reference/API_Operations.html
CreatePipe answers CREATING, StartPipe STARTING, StopPipe STOPPING, UpdatePipe UPDATING,
DeletePipe DELETING; the runtime moves the pipe on to RUNNING / STOPPED, or to
CREATE_FAILED / START_FAILED / UPDATE_FAILED with a StateReason.
"""

from __future__ import annotations

import json
import re
from urllib.parse import unquote

from localcloud import seams
from localcloud.services.pipes import runtime, store
from localcloud.services.pipes.validation import PipeError, validate_create, validate_update

_NAME = re.compile(r"[.\-_A-Za-z0-9]{1,64}")


def _response(status: int, body: dict) -> tuple[int, dict, bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


def _error(error: PipeError) -> tuple[int, dict, bytes]:
    return (error.status, {"Content-Type": "application/json", "x-amzn-errortype": error.code},
            json.dumps({"message": error.message}).encode())


def _not_found(name: str) -> PipeError:
    return PipeError(404, "NotFoundException", f"Pipe {name} does not exist.")


def lifecycle(record: dict) -> dict:
    """The shape CreatePipe, UpdatePipe, StartPipe, StopPipe and DeletePipe answer."""
    return {k: record[k] for k in ("Arn", "Name", "DesiredState", "CurrentState", "CreationTime", "LastModifiedTime")}


def describe(record: dict) -> dict:
    described = {k: v for k, v in record.items() if not k.startswith("_")}
    described.setdefault("StateReason", "")
    described.setdefault("Tags", {})
    return described


def _summary(record: dict) -> dict:
    keys = ("Name", "Arn", "DesiredState", "CurrentState", "StateReason", "CreationTime", "LastModifiedTime",
            "Source", "Target", "Enrichment")
    return {k: record[k] for k in keys if record.get(k) is not None}


# --- operations (also used by CloudFormation) -------------------------------------------------

def create_pipe(account: str, region: str, name: str, request: dict) -> dict:
    if not _NAME.fullmatch(name or ""):
        raise PipeError(400, "ValidationException", "Name must match [\\.\\-_A-Za-z0-9]+ and be 1-64 characters.")
    validate_create(request, region)
    key = (account, region, name)
    if store.exists(key):
        raise PipeError(409, "ConflictException", f"Pipe {name} already exists.")
    created = store.now()
    record = {field: request[field] for field in store.DEFINITION_FIELDS if request.get(field) not in (None, "")}
    record.update(Name=name, Arn=f"arn:aws:pipes:{region}:{account}:pipe/{name}",
                  DesiredState=request.get("DesiredState") or "RUNNING", CurrentState="CREATING", StateReason="",
                  Tags=dict(request.get("Tags") or {}), CreationTime=created, LastModifiedTime=created)
    record.setdefault("Description", "")
    store.put(key, record)
    runtime.reconcile(key, "CREATE")
    return record


def _live(key: tuple[str, str, str]) -> dict:
    """The pipe's record; NotFound when there is none or it is being deleted."""
    current = store.get(key)
    if current is None or current["CurrentState"] == "DELETING":
        raise _not_found(key[2])
    return current


def update_pipe(account: str, region: str, name: str, request: dict) -> dict:
    key = (account, region, name)
    current = _live(key)
    validate_update(request, current, region)
    changes = {field: request[field] for field in store.DEFINITION_FIELDS
               if field in request and field not in ("Source", "SourceParameters")}
    if "SourceParameters" in request:
        changes["SourceParameters"] = _updated_source_parameters(current.get("SourceParameters") or {},
                                                                 request["SourceParameters"] or {})
    for field in ("Enrichment", "EnrichmentParameters"):  # an empty string/object removes it
        if field in changes and changes[field] in ("", {}):
            changes[field] = None
    changes.update(DesiredState=request.get("DesiredState") or current["DesiredState"], CurrentState="UPDATING",
                   StateReason="", LastModifiedTime=store.now())
    record = store.change(key, **changes)
    runtime.reconcile(key, "UPDATE")
    return record


def _updated_source_parameters(current: dict, update: dict) -> dict:
    """UpdatePipeSourceParameters replaces each group it names; a stream's starting
    position cannot change after creation."""
    merged = dict(current)
    for group, values in update.items():
        kept = {k: v for k, v in (current.get(group) or {}).items() if k.startswith("StartingPosition")}
        merged[group] = {**kept, **(values or {})} if group != "FilterCriteria" else values
        if group == "FilterCriteria" and not (values or {}).get("Filters"):
            merged.pop(group)
    return merged


def set_desired_state(account: str, region: str, name: str, desired: str) -> dict:
    key = (account, region, name)
    _live(key)  # refuses a pipe that is gone or going
    transitional = "STARTING" if desired == "RUNNING" else "STOPPING"
    record = store.change(key, DesiredState=desired, CurrentState=transitional, StateReason="",
                          LastModifiedTime=store.now())
    runtime.reconcile(key, "START" if desired == "RUNNING" else "STOP")
    return record


def delete_pipe(account: str, region: str, name: str) -> dict:
    key = (account, region, name)
    current = store.get(key)
    if current is None:
        raise _not_found(name)
    record = store.change(key, DesiredState="DELETED", CurrentState="DELETING", LastModifiedTime=store.now())
    runtime.reconcile(key, "DELETE")
    return record


def _list_pipes(account: str, region: str, query: dict) -> dict:
    def single(name):
        value = query.get(name)
        return value[0] if isinstance(value, list) else value

    found = []
    for record in store.in_scope(account, region):
        if record["CurrentState"] == "DELETING" and not store.exists((account, region, record["Name"])):
            continue
        checks = (("NamePrefix", "Name", str.startswith), ("SourcePrefix", "Source", str.startswith),
                  ("TargetPrefix", "Target", str.startswith), ("DesiredState", "DesiredState", str.__eq__),
                  ("CurrentState", "CurrentState", str.__eq__))
        if all(not single(q) or test(record.get(f, ""), single(q)) for q, f, test in checks):
            found.append(_summary(record))
    start = int(single("NextToken") or 0)
    limit = int(single("Limit") or 100)
    page = found[start:start + limit]
    body = {"Pipes": page}
    if start + limit < len(found):
        body["NextToken"] = str(start + limit)
    return body


def _by_arn(arn: str) -> tuple[str, str, str]:
    parts = arn.split(":")
    if len(parts) < 6 or parts[2] != "pipes" or not parts[5].startswith("pipe/"):
        raise PipeError(404, "NotFoundException", f"Resource {arn} does not exist.")
    key = (parts[4], parts[3], parts[5][len("pipe/"):])
    if not store.exists(key):
        raise PipeError(404, "NotFoundException", f"Resource {arn} does not exist.")
    return key


def _tags(method: str, arn: str, request: dict, query: dict) -> dict:
    key = _by_arn(arn)
    tags = store.get(key).get("Tags") or {}
    if method == "GET":
        return {"tags": tags}
    if method == "POST":
        tags.update(request.get("tags") or {})
    elif method == "DELETE":
        keys = query.get("tagKeys") or []
        for tag_key in keys if isinstance(keys, list) else [keys]:
            tags.pop(tag_key, None)
    store.change(key, Tags=tags)
    return {}


async def handle(method: str, path: str, headers: dict, body: bytes, query: dict) -> tuple[int, dict, bytes]:
    account, region = seams.current_account(), seams.current_region()
    try:
        request = json.loads(body) if body else {}
        if not isinstance(request, dict):
            raise ValueError
    except ValueError:
        return _error(PipeError(400, "ValidationException", "Request body is not a JSON object."))
    try:
        if path.rstrip("/") == "/v1/pipes" and method == "GET":
            return _response(200, _list_pipes(account, region, query))
        if path.startswith("/tags/"):
            return _response(200, _tags(method, unquote(path[len("/tags/"):]), request, query))
        if path.startswith("/v1/pipes/"):
            rest = unquote(path[len("/v1/pipes/"):])
            for suffix, desired in (("/start", "RUNNING"), ("/stop", "STOPPED")):
                if rest.endswith(suffix) and method == "POST":
                    return _response(200, lifecycle(set_desired_state(account, region, rest[:-len(suffix)], desired)))
            if method == "POST":
                return _response(200, lifecycle(create_pipe(account, region, rest, request)))
            if method == "PUT":
                return _response(200, lifecycle(update_pipe(account, region, rest, request)))
            if method == "DELETE":
                response = lifecycle(delete_pipe(account, region, rest))
                return _response(200, response)
            if method == "GET":
                record = store.get((account, region, rest))
                if record is None:
                    raise _not_found(rest)
                return _response(200, describe(record))
        raise PipeError(404, "NotFoundException", f"No route for {method} {path}")
    except PipeError as error:
        return _error(error)
