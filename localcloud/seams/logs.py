"""CloudWatch Logs actions run in-process (rule targets, access logs, Lambda logs)."""

from __future__ import annotations

from localcloud.seams.core import decode_json


def action(name: str, payload: dict) -> tuple[int, dict]:
    """Run a CloudWatch Logs API action synchronously in the current request scope."""
    from ministack.services import cloudwatch_logs

    handler = {"CreateLogGroup": cloudwatch_logs._create_log_group,
               "CreateLogStream": cloudwatch_logs._create_log_stream,
               "PutLogEvents": cloudwatch_logs._put_log_events}[name]
    status, _headers, body = handler(payload)
    return decode_json(status, body)
