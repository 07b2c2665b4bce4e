"""PutEvents as AWS answers it, for buses of the caller's own account and of others.

What ministack 1.5.33 does differently, and AWS's answer:

* an entry naming a bus that does not exist (name or ARN) is accepted with an EventId
  and delivered nowhere, FailedEntryCount 0 (LocalStack snapshot
  test_put_events_nonexistent_event_bus, recorded on AWS);
* the supplied ``Time`` is the event's ``time`` (test_put_events_time,
  test_put_events_with_time_field); ministack stamps every event with now;
* entries without Source, DetailType or Detail, and a Detail that is not a JSON object,
  fail with InvalidArgument / MalformedDetail (test_put_events_without_source,
  test_put_event_without_detail_type, test_put_event_malformed_detail);
* the entries of one request may total less than 1 MB, counted as AWS documents
  (Time 14 bytes, Source, DetailType, Detail and each Resources entry in UTF-8); more
  is ValidationException "Total size of the entries in the request is over the limit."
  (test_put_event_with_too_big_detail; the limit is 1 MB since 2026-01-29:
  https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html,
  https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html);
* each entry is authorized on its own bus for the caller (localcloud.auth: the caller's
  identity policy, and for a bus of another account in this region, that bus's policy):
  AccessDeniedException unless allowed; another account's bus that does not exist has no
  policy, so it is refused the same way.

The default bus exists in every account and region (ministack creates it lazily).
"""

from __future__ import annotations

import json
import time
from datetime import datetime

from localcloud import auth, seams
from localcloud.extension import Extension
from localcloud.services.events.cross_account import bus_arn_parts

MAX_REQUEST_ENTRIES_BYTES = 1_048_576
TIME_FIELD_BYTES = 14


def entry_size(entry: dict) -> int:
    """EventBridge's size of a PutEventsRequestEntry (eb-putevent-size.html)."""
    size = TIME_FIELD_BYTES if entry.get("Time") is not None else 0
    for field in ("Source", "DetailType", "Detail"):
        if isinstance(entry.get(field), str):
            size += len(entry[field].encode())
    return size + sum(len(r.encode()) for r in entry.get("Resources") or [] if isinstance(r, str))


def _event_time(value) -> int:
    """The entry's Time as epoch seconds (ministack's stored form); now when absent."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        try:
            return int(float(value))
        except ValueError:
            try:
                return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
            except ValueError:
                pass
    return int(time.time())


def _invalid(field: str) -> dict:
    return {"ErrorCode": "InvalidArgument",
            "ErrorMessage": f"Parameter {field} is not valid. Reason: {field} is a required argument."}


def entry_error(entry: dict) -> dict | None:
    for field in ("Source", "DetailType", "Detail"):
        if not isinstance(entry.get(field), str) or not entry[field]:
            return _invalid(field)
    try:
        detail = json.loads(entry["Detail"])
    except ValueError:
        detail = None
    if not isinstance(detail, dict):
        return {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
    if entry["Source"].startswith("aws."):
        return {"ErrorCode": "NotAuthorizedForSourceException", "ErrorMessage": "Not authorized for the source."}
    return None


def put(entry: dict, sender_account: str, owner: tuple[str, str], bus_name: str, bus_arn: str | None) -> dict:
    """Put one valid entry on ``bus_name`` of ``owner`` (account, region), if the caller may."""
    account, region = owner
    decision = auth.decide_for_acting("events:PutEvents", bus_arn or f"arn:aws:events:{region}:{account}:event-bus/"
                                                                     f"{bus_name}")
    if not decision.allowed:
        return {"ErrorCode": "AccessDeniedException", "ErrorMessage": decision.message}
    with seams.request_scope(account, region):
        event_id = seams.new_id()
        if bus_name == "default":
            seams.events.ensure_default_bus()
        if seams.events.bus_exists(bus_name):
            seams.events.dispatch_on_bus({
                "EventId": event_id,
                "Source": entry["Source"],
                "DetailType": entry["DetailType"],
                "Detail": entry["Detail"],
                "EventBusName": bus_name,
                "Time": _event_time(entry.get("Time")),
                "Resources": list(entry.get("Resources") or []),
                "Account": sender_account,
                "Region": region,
            })
    return {"EventId": event_id}


def put_entry(entry: dict, account: str, region: str) -> dict:
    error = entry_error(entry)
    if error:
        return error
    reference = entry.get("EventBusName") or "default"
    parts = bus_arn_parts(reference) if reference.startswith("arn:") else None
    if parts and parts[0] != account and parts[1] == region:
        return put(entry, account, (parts[0], region), parts[2], reference)
    name, ref_error = seams.events.bus_name_from_ref(reference)
    if ref_error:
        return {"ErrorCode": ref_error[0], "ErrorMessage": ref_error[1]}
    return put(entry, account, (account, region), name, None)


def _response(status: int, body: dict) -> tuple[int, dict, bytes]:
    return status, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps(body).encode()


async def put_events(original, method, path, headers, body, query_params):
    try:
        entries = json.loads(body or b"{}").get("Entries")
    except (ValueError, AttributeError):
        entries = None
    if not isinstance(entries, list) or not 1 <= len(entries) <= 10 or not all(isinstance(e, dict) for e in entries):
        return await original(method, path, headers, body, query_params)  # ministack's request validation
    if sum(entry_size(e) for e in entries) > MAX_REQUEST_ENTRIES_BYTES:
        return _response(400, {"__type": "ValidationException",
                               "message": "Total size of the entries in the request is over the limit."})
    account, region = seams.current_account(), seams.current_region()
    results = [put_entry(entry, account, region) for entry in entries]
    return _response(200, {"FailedEntryCount": sum(1 for r in results if "ErrorCode" in r), "Entries": results})


def _wrap_events_handler(original):
    async def handle(method, path, headers, body, query_params):
        if headers.get("x-amz-target", "").rsplit(".", 1)[-1] == "PutEvents":
            return await put_events(original, method, path, headers, body, query_params)
        return await original(method, path, headers, body, query_params)

    return handle


def needed() -> bool:
    return not seams.events.probe_put_events_keeps_time()


def install() -> None:
    seams.wrap_service_handler("events", _wrap_events_handler)


EXTENSION = Extension(name="events_put_events", needed=needed, install=install)
