"""Filtering and input transformation, with Pipes' implicit body data parsing.

"For both filtering and input transformation, EventBridge transforms these fields into
valid JSON so sub-values can be referenced directly": the SQS ``body`` (JSON-escaped)
and the Kinesis ``data`` (base64).
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-input-transformation.html
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-event-filtering.html
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time

from localcloud import seams
from localcloud.services import json_path

_PLACEHOLDER = re.compile(r"<([^<>]+)>")


def parsed_view(event) -> object:
    """The event with its encoded payload field decoded to JSON where it is JSON."""
    if not isinstance(event, dict):
        return event
    view = dict(event)
    if event.get("eventSource") == "aws:sqs" and isinstance(event.get("body"), str):
        try:
            view["body"] = json.loads(event["body"])
        except ValueError:
            pass
    elif event.get("eventSource") == "aws:kinesis" and isinstance(event.get("data"), str):
        try:
            view["data"] = json.loads(base64.b64decode(event["data"], validate=True))
        except (ValueError, binascii.Error):
            pass
    return view


def passes_filters(definition: dict, record: dict) -> bool:
    filters = ((definition.get("SourceParameters") or {}).get("FilterCriteria") or {}).get("Filters") or []
    patterns = [f.get("Pattern") for f in filters if isinstance(f, dict) and f.get("Pattern")]
    if not patterns:
        return True
    view = parsed_view(record)
    return isinstance(view, dict) and any(seams.events.pattern_matches(p, view) for p in patterns)


def render(template: str, event, definition: dict) -> str:
    """One event through an InputTemplate, with the reserved ``aws.pipes.*`` variables."""
    view = parsed_view(event)
    reserved = {
        "aws.pipes.pipe-arn": definition.get("Arn", ""),
        "aws.pipes.pipe-name": definition.get("Name", ""),
        "aws.pipes.source-arn": definition.get("Source", ""),
        "aws.pipes.enrichment-arn": definition.get("Enrichment", ""),
        "aws.pipes.target-arn": definition.get("Target", ""),
        "aws.pipes.event.ingestion-time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "aws.pipes.event": event if isinstance(event, str) else json.dumps(event, separators=(",", ":")),
        "aws.pipes.event.json": view,
    }
    values = {}
    for placeholder in set(_PLACEHOLDER.findall(template)):
        if placeholder.startswith("$"):
            values[placeholder] = json_path.lookup(view, placeholder)
        elif placeholder in reserved:
            values[placeholder] = reserved[placeholder]
    return seams.events.render_input_template(template, values)


def transform(template: str | None, events: list, definition: dict) -> list[str]:
    """Each event as the payload it becomes: the rendered template, or its JSON."""
    if not template:
        return [e if isinstance(e, str) else json.dumps(e, separators=(",", ":")) for e in events]
    return [render(template, e, definition) for e in events]
