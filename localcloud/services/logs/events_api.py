"""PutLogEvents, GetLogEvents, FilterLogEvents and GetLogRecord on the SQLite store, as
the CloudWatch Logs API reference describes them (ministack's versions keep events in
memory, and its FilterLogEvents stops at 10,000 events with no nextToken):

* https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutLogEvents.html
* https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_GetLogEvents.html
* https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_FilterLogEvents.html

Each handler takes the request document and runs in the caller's request scope.
"""

from __future__ import annotations

import time

from localcloud import seams
from localcloud.services.logs import store
from localcloud.services.logs.common import (
    decode_token,
    encode_token,
    invalid,
    missing_stream,
    read_limit,
    resolve_group,
)
from localcloud.services.logs.filter_pattern import InvalidPattern, compile_pattern

MAX_EVENTS = 10_000
MAX_BATCH_BYTES = 1_048_576  # message bytes plus 26 per event
EVENT_OVERHEAD = 26
MAX_RESPONSE_BYTES = 1_048_576
FUTURE_LIMIT_MS = 2 * 3600 * 1000
PAST_LIMIT_MS = 14 * 24 * 3600 * 1000
SPAN_LIMIT_MS = 24 * 3600 * 1000
SCAN_SECONDS = 0.5  # one FilterLogEvents call reads at most this long, then hands back a nextToken
HEAD, TAIL = (-(2**62), 0), (2**62, 0)


def _now_ms() -> int:
    return int(time.time() * 1000)


# --- PutLogEvents ---------------------------------------------------------------------------------------

def put_log_events(data: dict):
    events = data.get("logEvents")
    if not isinstance(events, list) or not events:
        return invalid("1 validation error detected: Value at 'logEvents' failed to satisfy constraint: "
                        "Member must have length greater than or equal to 1")
    if len(events) > MAX_EVENTS:
        return invalid(f"1 validation error detected: Value at 'logEvents' failed to satisfy constraint: "
                        f"Member must have length less than or equal to {MAX_EVENTS}")
    gid, group_name, error = resolve_group(data)
    if error:
        return error
    stream_name = data.get("logStreamName") or ""
    batch = [(int(e.get("timestamp", 0)), str(e.get("message", ""))) for e in events]
    if sum(len(m.encode("utf-8", "surrogatepass")) + EVENT_OVERHEAD for _t, m in batch) > MAX_BATCH_BYTES:
        return invalid(f"Upload too large: the batch exceeds {MAX_BATCH_BYTES} bytes")
    if any(later[0] < earlier[0] for earlier, later in zip(batch, batch[1:])):
        return invalid("Log events in a single PutLogEvents request must be in chronological order.")
    if batch[-1][0] - batch[0][0] > SPAN_LIMIT_MS:
        return invalid("The batch of log events in a single PutLogEvents request cannot span more than 24 hours.")
    now = _now_ms()
    retention = (seams.logs.group(group_name) or {}).get("retentionInDays")
    expired_before = now - int(retention) * 86_400_000 if retention else None
    rejected: dict[str, int] = {}
    accepted = []
    for index, (timestamp, message) in enumerate(batch):
        if timestamp > now + FUTURE_LIMIT_MS:
            rejected.setdefault("tooNewLogEventStartIndex", index)
        elif expired_before is not None and timestamp < expired_before:
            rejected["expiredLogEventEndIndex"] = index
        elif timestamp < now - PAST_LIMIT_MS:
            rejected["tooOldLogEventEndIndex"] = index
        else:
            accepted.append((timestamp, message))
    result = store.append(gid, stream_name, accepted, now)
    if result is None:
        return missing_stream()
    stored, sequence = result
    if stored:
        seams.logs.fan_out(group_name, stream_name, [_output(e) for e in stored])
    response = {"nextSequenceToken": f"{sequence:056d}"}
    if rejected:
        response["rejectedLogEventsInfo"] = rejected
    return seams.json_response(response)


def _output(event: store.Event) -> dict:
    return {"timestamp": event.timestamp, "message": event.message, "ingestionTime": event.ingestion_time,
            "eventId": event.event_id}


def write(account: str, region: str, group_name: str, stream_name: str, messages: list[str]) -> None:
    """Append lines as a service writing its own logs does: the group and the stream are
    created when missing (Lambda's log writer)."""
    now = _now_ms()
    with seams.request_scope(account, region):
        seams.logs.create_group(group_name)
        gid = store.group_id(account, region, group_name, create=True)
        stored, _sequence = store.append(gid, stream_name, [(now, m) for m in messages], now, create_stream_at=now)
        seams.logs.fan_out(group_name, stream_name, [_output(e) for e in stored])


# --- GetLogEvents -------------------------------------------------------------------------------------

def _page_of_group(data: dict):
    """(limit, group id, None) or (None, None, error): what both readers check first."""
    limit, error = read_limit(data, MAX_EVENTS, MAX_EVENTS)
    if error:
        return None, None, error
    gid, _name, error = resolve_group(data)
    return (None, None, error) if error else (limit, gid, None)


def get_log_events(data: dict):
    limit, gid, error = _page_of_group(data)
    if error:
        return error
    found = store.stream(gid, data.get("logStreamName") or "")
    if found is None:
        return missing_stream()
    token = data.get("nextToken")
    if token:
        position = decode_token(token, "f/")
        forward = position is not None
        position = position or decode_token(token, "b/")
        if position is None:
            return invalid("The specified nextToken is invalid.")
    else:
        forward = bool(data.get("startFromHead"))
        position = HEAD if forward else TAIL
    page = store.scan_stream(found.id, found.name, start=data.get("startTime"), end=data.get("endTime"),
                             position=position, forward=forward, limit=limit)
    page = _within_bytes(page, forward)
    if page:
        forward_token = encode_token("f/", (page[-1].timestamp, page[-1].id))
        backward_token = encode_token("b/", (page[0].timestamp, page[0].id))
    else:  # at an end of the stream: AWS hands the caller's token back
        forward_token = token if token and forward else encode_token("f/", position if forward else HEAD)
        backward_token = token if token and not forward else encode_token("b/", position if not forward else TAIL)
    return seams.json_response({
        "events": [{"timestamp": e.timestamp, "message": e.message, "ingestionTime": e.ingestion_time} for e in page],
        "nextForwardToken": forward_token, "nextBackwardToken": backward_token})


def _within_bytes(page: list[store.Event], forward: bool) -> list[store.Event]:
    kept, size = [], 0
    for event in page if forward else reversed(page):
        size += len(event.message.encode("utf-8", "surrogatepass")) + EVENT_OVERHEAD
        if size > MAX_RESPONSE_BYTES and kept:
            break
        kept.append(event)
    return kept if forward else kept[::-1]


# --- FilterLogEvents ------------------------------------------------------------------------------------

def filter_log_events(data: dict):
    limit, gid, error = _page_of_group(data)
    if error:
        return error
    names, prefix = data.get("logStreamNames"), data.get("logStreamNamePrefix")
    if names and prefix:
        return invalid("logStreamNames and logStreamNamePrefix are mutually exclusive parameters.")
    try:
        pattern = compile_pattern(data.get("filterPattern"))
    except InvalidPattern as problem:
        return invalid(f"Invalid filter pattern: {problem}")
    after = None
    if data.get("nextToken"):
        after = decode_token(data["nextToken"], "n/")
        if after is None:
            return invalid("The specified nextToken is invalid.")
    stream_ids = None
    if names:
        stream_ids = [s.id for s in store.streams_named(gid, names)]
    elif prefix:
        stream_ids = [s.id for s in store.streams_with_prefix(gid, prefix)]
    events, size, position, more = [], 0, after or HEAD, False
    if stream_ids != []:
        deadline = time.monotonic() + SCAN_SECONDS
        for event in store.scan_group(gid, start=data.get("startTime"), end=data.get("endTime"),
                                      stream_ids=stream_ids, after=after, required=list(pattern.required)):
            if len(events) >= limit or time.monotonic() > deadline:
                more = True
                break
            if pattern.matches(event.message):
                size += len(event.message.encode("utf-8", "surrogatepass")) + EVENT_OVERHEAD
                if size > MAX_RESPONSE_BYTES and events:
                    more = True
                    break
                events.append({"logStreamName": event.stream, **_output(event)})
            position = (event.timestamp, event.id)
    response = {"events": events, "searchedLogStreams": []}
    if more:
        response["nextToken"] = encode_token("n/", position)
    return seams.json_response(response)


# --- GetLogRecord and Insights ------------------------------------------------------------------------

def get_log_record(data: dict):
    row_id = store.parse_event_id(data.get("logRecordPointer") or "")
    found = store.event(row_id) if row_id is not None else None
    if found is None or found[:2] != (seams.current_account(), seams.current_region()):
        return seams.error_response("ResourceNotFoundException", "The specified log record does not exist.")
    _account, _region, group_name, event = found
    record = seams.logs.insights_record(event.event_id, event.timestamp, event.message, group_name, event.stream)
    return seams.json_response({"logRecord": seams.logs.public_insights_record(record)})


def query_records(group_names: list[str], start_s, end_s) -> list[dict]:
    """Insights' input: every event of the groups in [start, end] (epoch seconds)."""
    account, region = seams.current_account(), seams.current_region()
    records = []
    for name in group_names:
        gid = store.group_id(account, region, name)
        if gid is None:
            continue
        for event in store.scan_group(gid, start=int(start_s) * 1000, end=int(end_s) * 1000, stream_ids=None,
                                      after=None, required=[]):
            records.append(seams.logs.insights_record(event.event_id, event.timestamp, event.message, name,
                                                      event.stream))
    records.sort(key=lambda r: r.get("_timestamp_ms", 0))
    return records
