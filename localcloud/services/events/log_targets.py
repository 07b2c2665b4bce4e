"""EventBridge rule targets that are CloudWatch Logs log groups.

ministack 1.5.33 accepts a log-group target but logs "unsupported target type" and
delivers nothing. As on AWS, each event becomes one log event (the event as JSON, written
as every target receives it: compact, UTF-8, the envelope in AWS's field order) in a stream
named after the event id, in the log group the target ARN names.
"""

from __future__ import annotations

import json
import logging
import time

from localcloud import seams
from localcloud.extension import Extension
from localcloud.services.events.api_shapes import in_envelope_order

logger = logging.getLogger("localcloud.event_log_targets")


def _log_group_target(arn: str) -> tuple[str, str, str] | None:
    """(account, region, log group name) of a log-group ARN, else None."""
    parts = arn.split(":")
    if len(parts) < 7 or parts[2] != "logs" or parts[5] != "log-group":
        return None
    return parts[4], parts[3], parts[6]


def deliver(target_arn: str, event: dict) -> bool:
    where = _log_group_target(target_arn)
    if where is None:
        return False
    account, region, group = where
    message = json.dumps(in_envelope_order(seams.events.delivered_event(event)), separators=(",", ":"),
                         ensure_ascii=False)
    stream = event.get("EventId") or seams.new_id()
    with seams.request_scope(account, region):
        status, body = seams.logs.action("CreateLogStream", {"logGroupName": group, "logStreamName": stream})
        if status >= 400 and body.get("__type") != "ResourceAlreadyExistsException":
            logger.warning("log target %s: %s", target_arn, body.get("message") or body)
            return True
        status, body = seams.logs.action("PutLogEvents", {
            "logGroupName": group, "logStreamName": stream,
            "logEvents": [{"timestamp": int(time.time() * 1000), "message": message}],
        })
        if status >= 400:
            logger.warning("log target %s: %s", target_arn, body.get("message") or body)
    return True


def _wrap_invoke_target(original):
    def invoke_target(target, event, rule, view=None):
        if not deliver(target.get("Arn", ""), event):
            original(target, event, rule, view)

    return invoke_target


def needed() -> bool:
    return not seams.events.probe_log_group_targets()


def install() -> None:
    seams.events.wrap_function("_invoke_target", _wrap_invoke_target)


EXTENSION = Extension(name="event_log_targets", needed=needed, install=install)
