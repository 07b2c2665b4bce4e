"""CloudWatch Logs actions run in-process (rule targets, access logs)."""

from __future__ import annotations

from localcloud.seams.core import decode_json


def action(name: str, payload: dict) -> tuple[int, dict]:
    """Run a CloudWatch Logs API action synchronously in the current request scope."""
    from ministack.services import cloudwatch_logs

    handler = {"CreateLogStream": cloudwatch_logs._create_log_stream,
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
