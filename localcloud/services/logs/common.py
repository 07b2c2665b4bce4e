"""What every CloudWatch Logs handler here shares: AWS's error shapes and input checks,
the log group a request names, and opaque pagination tokens."""

from __future__ import annotations

import base64
import json

from localcloud import seams
from localcloud.services.logs import store


def invalid(message: str):
    return seams.error_response("InvalidParameterException", message)


def missing_group():
    return seams.error_response("ResourceNotFoundException", "The specified log group does not exist.")


def missing_stream():
    return seams.error_response("ResourceNotFoundException", "The specified log stream does not exist.")


def read_limit(data: dict, default: int, maximum: int):
    """(limit, None) or (None, the error AWS's input validation gives)."""
    value = data.get("limit", default)
    if not isinstance(value, int) or isinstance(value, bool):
        return None, invalid(f"1 validation error detected: Value '{value}' at 'limit' failed to satisfy "
                             "constraint: Member must be a number")
    if value > maximum:
        return None, invalid(f"1 validation error detected: Value '{value}' at 'limit' failed to satisfy "
                             f"constraint: Member must have value less than or equal to {maximum}")
    if value < 1:
        return None, invalid(f"1 validation error detected: Value '{value}' at 'limit' failed to satisfy "
                             "constraint: Member must have value greater than or equal to 1")
    return value, None


def resolve_group(data: dict):
    """(group id, group name, None) or (None, None, error) for logGroupName/Identifier."""
    if data.get("logGroupName") and data.get("logGroupIdentifier"):
        return None, None, invalid("LogGroup name and LogGroup ARN are mutually exclusive parameters.")
    name = seams.logs.group_name_of(data)
    if not name or seams.logs.group(name) is None:
        return None, None, missing_group()
    return store.group_id(seams.current_account(), seams.current_region(), name, create=True), name, None


def encode_token(prefix: str, position: tuple[int, int]) -> str:
    return prefix + base64.urlsafe_b64encode(json.dumps(list(position)).encode()).decode()


def decode_token(token: str, prefix: str) -> tuple[int, int] | None:
    if not isinstance(token, str) or not token.startswith(prefix):
        return None
    try:
        ts, row = json.loads(base64.urlsafe_b64decode(token[len(prefix):].encode()))
        return int(ts), int(row)
    except (ValueError, TypeError):
        return None
