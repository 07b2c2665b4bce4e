"""CloudWatch Logs: ministack's log groups (names, retention, tags, subscription filters
stay its own), its action functions, the fan-out of new events to subscription filters
and Live Tail, Insights queries, and the function through which its Lambda service
writes a function's output."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from localcloud.seams.core import PROBE_ACCOUNT_A, PROBE_REGION, decode_json, request_scope


def module():
    from ministack.services import cloudwatch_logs

    return cloudwatch_logs


def action(name: str, payload: dict) -> tuple[int, dict]:
    """Run a CloudWatch Logs API action synchronously in the current request scope
    (rule targets, access logs, Lambda logs). Looked up at call time, so it runs our replacements."""
    cloudwatch_logs = module()
    handler = {"CreateLogGroup": cloudwatch_logs._create_log_group,
               "CreateLogStream": cloudwatch_logs._create_log_stream,
               "PutLogEvents": cloudwatch_logs._put_log_events}[name]
    status, _headers, body = handler(payload)
    return decode_json(status, body)


def resource_policies_and_key(log_group_arn: str) -> tuple[list, str] | None:
    """(resource policy documents that may govern the group: the account's and the group's
    own, KMS key the group is encrypted with or "") of a log group; None when it does not exist."""
    from ministack.services import cloudwatch_logs

    from localcloud.seams.core import request_scope

    parts = log_group_arn.split(":")
    if len(parts) < 7:
        return None
    with request_scope(parts[4], parts[3]):
        group = cloudwatch_logs._log_groups.get(parts[6])
        if group is None:
            return None
        documents = [p.get("policyDocument") for p in cloudwatch_logs._resource_policies.values()]
        own = cloudwatch_logs._log_group_policies.get(parts[6])
        if own:
            documents.append(own.get("policyDocument"))
    return [d for d in documents if d], group.get("kmsKeyId") or ""


def replace_function(name: str, make_replacement: Callable[[Callable], Callable]) -> None:
    """Replace one of ministack's CloudWatch Logs module functions (its action handlers
    are looked up by name on every request, as are ``_collect_query_records``)."""
    cloudwatch_logs = module()
    setattr(cloudwatch_logs, name, make_replacement(getattr(cloudwatch_logs, name)))


# --- log groups (current request scope) ---------------------------------------------------------

def group(name: str) -> dict | None:
    return module()._log_groups.get(name)


def group_names() -> list[str]:
    return sorted(module()._log_groups.keys())


def all_groups() -> list[tuple[str, str, str, dict]]:
    """(account, region, name, record) of every log group."""
    return [(str(a), str(r), str(n), g) for (a, r, n), g in list(module()._log_groups.all_items())]


def create_group(name: str) -> None:
    """Create a log group as a service writing to it would (Lambda, a log-group target)."""
    cloudwatch_logs = module()
    if name not in cloudwatch_logs._log_groups:
        cloudwatch_logs._create_log_group({"logGroupName": name})


def group_arn(name: str) -> str:
    return module()._make_group_arn_no_star(name)


def metric_filter_count(name: str) -> int:
    return sum(1 for key in module()._metric_filters if key[0] == name)


def group_name_of(data: dict) -> str | None:
    """``logGroupName`` or ``logGroupIdentifier`` (a name or an ARN), as AWS reads them."""
    return module()._resolve_log_group_name(data)


def fan_out(group_name: str, stream: str, events: list[dict]) -> None:
    """New events to the group's subscription filters and open Live Tail sessions."""
    cloudwatch_logs = module()
    cloudwatch_logs._fanout_to_subscription_filters(group_name, stream,
                                                    [{"timestamp": e["timestamp"], "message": e["message"]}
                                                     for e in events])
    cloudwatch_logs._fanout_to_live_tail_sessions(group_name, stream, events)


def insights_record(event_id: str, timestamp_ms: int, message: str, group_name: str, stream: str) -> dict:
    return module()._build_log_record(ptr=event_id, timestamp_ms=timestamp_ms, message=message,
                                      log_group=group_name, log_stream=stream)


def public_insights_record(record: dict) -> dict:
    return module()._public_log_record(record)


def queries() -> list[dict]:
    """Insights queries of the current account and region."""
    return list(module()._queries.values())


# --- probes --------------------------------------------------------------------------------------

def probe_paginates_filter_log_events() -> bool:
    """True when ministack's FilterLogEvents returns a nextToken past its page limit."""
    cloudwatch_logs = module()
    group_name, stream = "/localcloud/probe-pagination", "probe"
    with request_scope(PROBE_ACCOUNT_A, PROBE_REGION):
        cloudwatch_logs._create_log_group({"logGroupName": group_name})
        try:
            cloudwatch_logs._create_log_stream({"logGroupName": group_name, "logStreamName": stream})
            now = int(time.time() * 1000)
            cloudwatch_logs._put_log_events({"logGroupName": group_name, "logStreamName": stream, "logEvents": [
                {"timestamp": now, "message": "one"}, {"timestamp": now + 1, "message": "two"}]})
            _status, _headers, body = cloudwatch_logs._filter_log_events({"logGroupName": group_name, "limit": 1})
            page: Any = decode_json(200, body)[1]
            return bool(page.get("nextToken"))
        finally:
            cloudwatch_logs._delete_log_group({"logGroupName": group_name})
