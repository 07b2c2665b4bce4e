"""The resource side of a request: who owns the resource, and the policy it carries.

Resource-based policies read here: SQS queue policies, EventBridge bus policies, Lambda
function policies, Secrets Manager secret policies, KMS key policies (and grants),
CloudWatch Logs resource policies, S3 bucket policies, DynamoDB table policies, and a
role's trust policy for ``sts:AssumeRole``. A KMS key policy and a trust policy must
allow even callers of the owning account ("required"); the others add to what identity
policies allow.
"""

from __future__ import annotations

from dataclasses import dataclass

from localcloud import seams
from localcloud.auth.policy import Statement, compile_policy

TRUST_ACTIONS = frozenset({"sts:assumerole", "sts:tagsession", "sts:setsourceidentity",
                           "sts:assumerolewithwebidentity", "sts:assumerolewithsaml"})


@dataclass(frozen=True)
class ResourcePolicy:
    statements: tuple[Statement, ...]
    required: bool = False  # KMS key policy, role trust policy
    grants: tuple[dict, ...] = ()  # KMS grants
    kind: str = ""


def normalized(resource: str) -> str:
    """A log group's ARN as CloudWatch Logs authorizes it: ``…:log-group:<name>:*`` (the
    form its ``arn`` attribute and CDK's grants use); stream ARNs stay as they are."""
    if ":log-group:" in resource and resource.count(":") == 6:
        return resource + ":*"
    return resource


def split_arn(arn: str) -> tuple[str, str, str, str] | None:
    """(service, region, account, resource) of an ARN."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return None
    return parts[2], parts[3], parts[4], parts[5]


def owner_account(resource: str) -> str:
    """The account that owns ``resource`` ("" when the request names no resource)."""
    parts = split_arn(resource)
    if parts is None:
        return ""
    service, _region, account, name = parts
    if account == "aws":  # an AWS managed policy: every account reads and attaches it, as its own
        return ""
    if service == "s3" and not account:
        found = seams.s3.bucket_owner_and_policy(name.split("/", 1)[0])
        return found[0] if found else ""
    return account


def _queue(arn: str, _action: str) -> ResourcePolicy | None:
    found = seams.sqs.queue_policy_and_key(arn)
    return None if found is None else ResourcePolicy(compile_policy(found[0]), kind="sqs")


def _bus(arn: str, _action: str) -> ResourcePolicy | None:
    if ":event-bus/" not in arn:
        return None
    found = seams.events.bus_policy_and_key(arn)
    return None if found is None else ResourcePolicy(compile_policy(found[0]), kind="events")


def _function(arn: str, _action: str) -> ResourcePolicy | None:
    if ":function:" not in arn:
        return None
    found = seams.awslambda.function_policy(arn)
    return None if found is None else ResourcePolicy(compile_policy(found), kind="lambda")


def _secret(arn: str, _action: str) -> ResourcePolicy | None:
    found = seams.secretsmanager.policy_and_key(arn)
    return None if found is None else ResourcePolicy(compile_policy(found[0]), kind="secretsmanager")


def _key(arn: str, _action: str) -> ResourcePolicy | None:
    if ":key/" not in arn:
        return None
    found = seams.kms.key_policy_and_grants(arn)
    if found is None:
        return None
    return ResourcePolicy(compile_policy(found[0]), required=True, grants=tuple(found[1]), kind="kms")


def _log_group(arn: str, _action: str) -> ResourcePolicy | None:
    if ":log-group:" not in arn:
        return None
    group = ":".join(arn.split(":")[:7])
    found = seams.logs.resource_policies_and_key(group)
    if found is None:
        return None
    statements: list[Statement] = []
    for document in found[0]:
        statements.extend(compile_policy(document))
    return ResourcePolicy(tuple(statements), kind="logs")


def _bucket(arn: str, _action: str) -> ResourcePolicy | None:
    found = seams.s3.bucket_owner_and_policy(arn.split(":", 5)[5].split("/", 1)[0])
    return None if found is None else ResourcePolicy(compile_policy(found[1]), kind="s3")


def _table(arn: str, _action: str) -> ResourcePolicy | None:
    if ":table/" not in arn:
        return None
    found = seams.dynamodb.policy_and_key(arn)
    return None if found is None else ResourcePolicy(compile_policy(found[0]), kind="dynamodb")


def _role(arn: str, action: str) -> ResourcePolicy | None:
    if action.lower() not in TRUST_ACTIONS or ":role/" not in arn:
        return None
    parts = arn.split(":")
    trust = seams.iam.trust_policy(parts[4], arn.rsplit("/", 1)[-1])
    return None if trust is None else ResourcePolicy(compile_policy(trust), required=True, kind="trust")


_LOOKUPS = {"sqs": _queue, "events": _bus, "lambda": _function, "secretsmanager": _secret, "kms": _key,
            "logs": _log_group, "s3": _bucket, "dynamodb": _table, "iam": _role}


def resource_policy(action: str, resource: str) -> ResourcePolicy | None:
    """The policy of the resource itself; None when it carries none (or does not exist)."""
    parts = split_arn(resource)
    lookup = _LOOKUPS.get(parts[0]) if parts else None
    return lookup(resource, action) if lookup else None
