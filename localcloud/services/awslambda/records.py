"""A function's output as log records.

A runtime of ours writes each log record (a Node.js ``console.log`` call, an error report)
as one line on the worker's stderr: ``RECORD_MARKER`` and ``{"t": epoch ms, "m": message}``.
A record's message may span lines; it stays one CloudWatch Logs event, as AWS's runtimes
frame it. Any other output is split into one event per line, each ending in a newline,
as AWS captures a function's stdout and stderr.
"""

from __future__ import annotations

import json
import time

RECORD_MARKER = "\x1elocalcloud-log "


def encode(message: str, timestamp_ms: int | None = None) -> str:
    """One record as a line of worker output."""
    stamp = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    return RECORD_MARKER + json.dumps({"t": stamp, "m": message}, separators=(",", ":"))


def decode(output: str, not_before_ms: int) -> list[tuple[int, str]]:
    """(timestamp ms, message) of every event in a worker's captured output, in order;
    timestamps never go back (a line without its own takes the one before it)."""
    events: list[tuple[int, str]] = []
    last = not_before_ms
    for line in output.split("\n") if output else []:
        if line.startswith(RECORD_MARKER):
            try:
                record = json.loads(line[len(RECORD_MARKER):])
                last = max(last, int(record["t"]))
                events.append((last, str(record["m"])))
                continue
            except (ValueError, KeyError, TypeError):
                pass
        events.append((last, line + "\n"))
    return events
