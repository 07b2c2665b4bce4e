"""EventBridge API answers in AWS's shapes where ministack 1.5.33 differs.

* ListEventBuses, ListTargetsByRule and ListReplays honour ``Limit`` and return a
  ``NextToken`` while more remain (ministack returns everything, no token): LocalStack
  snapshots test_list_event_buses_with_limit and test_list_target_by_rule_limit,
  recorded on AWS (tests/aws/services/events/test_events.snapshot.json).
* ListEventBuses leaves out a Description that was never set (same snapshot).
* The rule and target actions accept the bus's ARN as ``EventBusName`` (the API's
  EventBusNameOrArn shape, e.g. API_PutTargets.html); ministack looks the ARN up as a
  name and answers "Rule ... does not exist".
* Events reach targets as compact JSON, and input transformers splice values in compact
  form: ``{acc_id:0a787ecb-4015,sf_id:baz}`` inside a string (snapshot
  test_input_transformer_nested_keys_replacement, tests/aws/services/events/test_events_inputs.snapshot.json);
  ministack writes Python's ``{"a": 1, "b": 2}`` spacing, \\u-escapes non-ASCII text and
  puts ``source`` before ``detail-type``.
"""

from __future__ import annotations

import base64
import binascii
import json

from localcloud import seams
from localcloud.extension import Extension

_PAGED = {"ListEventBuses": "EventBuses", "ListTargetsByRule": "Targets", "ListReplays": "Replays"}
_BUS_BY_NAME_OR_ARN = {"PutRule", "DeleteRule", "DescribeRule", "EnableRule", "DisableRule", "ListRules",
                       "PutTargets", "RemoveTargets", "ListTargetsByRule"}


def _response(status: int, body: dict) -> tuple[int, dict, bytes]:
    return status, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps(body).encode()


def _validation(message: str) -> tuple[int, dict, bytes]:
    return _response(400, {"__type": "ValidationException", "message": message})


def encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def decode_token(token: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    kind, _, number = text.partition(":")
    return int(number) if kind == "offset" and number.isdigit() else None


def paginate(items: list, limit, token) -> tuple[list, str | None] | str:
    """(page, next token), or the ValidationException message for a bad Limit/NextToken."""
    start = 0
    if token:
        start = decode_token(token)
        if start is None:
            return "The provided NextToken is not valid."
    if limit is None:
        page = items[start:]
    elif not isinstance(limit, int) or not 1 <= limit <= 100:
        return f"1 validation error detected: Value '{limit}' at 'limit' failed to satisfy constraint: " \
               "Member must have value between 1 and 100"
    else:
        page = items[start:start + limit]
    end = start + len(page)
    return page, (encode_token(end) if end < len(items) else None)


async def _paged(original, action, request, method, path, headers, body, query_params):
    unpaged = json.dumps({k: v for k, v in request.items() if k not in ("Limit", "NextToken")}).encode()
    status, response_headers, response = await original(method, path, headers, unpaged, query_params)
    if status >= 400:
        return status, response_headers, response
    answer = json.loads(response)
    key = _PAGED[action]
    items = answer.get(key) or []
    if action == "ListEventBuses":
        items = [{k: v for k, v in bus.items() if not (k == "Description" and v == "")} for bus in items]
    paged = paginate(items, request.get("Limit"), request.get("NextToken"))
    if isinstance(paged, str):
        return _validation(paged)
    answer[key], token = paged
    answer.pop("NextToken", None)
    if token:
        answer["NextToken"] = token
    return _response(200, answer)


def _wrap_events_handler(original):
    async def handle(method, path, headers, body, query_params):
        action = headers.get("x-amz-target", "").rsplit(".", 1)[-1]
        if action not in _PAGED and action not in _BUS_BY_NAME_OR_ARN:
            return await original(method, path, headers, body, query_params)
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return await original(method, path, headers, body, query_params)
        if not isinstance(request, dict):
            return await original(method, path, headers, body, query_params)
        reference = request.get("EventBusName")
        if action in _BUS_BY_NAME_OR_ARN and isinstance(reference, str) and reference.startswith("arn:"):
            name, error = seams.events.bus_name_from_ref(reference)
            if error:
                return _response(400, {"__type": error[0], "message": error[1]})
            request["EventBusName"] = name
            body = json.dumps(request).encode()
        if action in _PAGED:
            return await _paged(original, action, request, method, path, headers, body, query_params)
        return await original(method, path, headers, body, query_params)

    return handle


# The envelope's field order in every event AWS delivers (the LocalStack snapshots above).
ENVELOPE_ORDER = ("version", "id", "detail-type", "source", "account", "time", "region", "resources")


def in_envelope_order(obj):
    if isinstance(obj, dict) and set(ENVELOPE_ORDER) <= set(obj):
        return {**{k: obj[k] for k in ENVELOPE_ORDER}, **{k: v for k, v in obj.items() if k not in ENVELOPE_ORDER}}
    return obj


class _CompactJson:
    """The ``json`` module as ministack's EventBridge sees it: ``dumps`` writes what AWS
    writes (no spaces after separators, UTF-8 text left as is, an event's fields in
    AWS's order) unless told otherwise."""

    def __init__(self, real_json) -> None:
        self._json = real_json

    def __getattr__(self, name):
        return getattr(self._json, name)

    def dumps(self, obj, **kwargs):
        kwargs.setdefault("separators", (",", ":"))
        kwargs.setdefault("ensure_ascii", False)
        return self._json.dumps(in_envelope_order(obj), **kwargs)


def needed() -> bool:
    return not seams.events.probe_compact_target_payloads()


def install() -> None:
    seams.wrap_service_handler("events", _wrap_events_handler)
    seams.events.replace_json(_CompactJson)


EXTENSION = Extension(name="events_api_shapes", needed=needed, install=install)
