"""What an allowed action needs besides itself: the KMS key of an encrypted resource.

* SQS: a producer of an encrypted queue needs kms:GenerateDataKey and kms:Decrypt, a
  consumer kms:Decrypt (SQS developer guide, "Configuring KMS permissions"), through SQS
  (kms:ViaService) — AWS services that send (EventBridge) are checked the same way, on the
  key policy, with their aws:SourceArn.
* Secrets Manager: reading a secret under a customer managed key needs kms:Decrypt through
  Secrets Manager.
* DynamoDB: item reads and writes on a table under a customer managed key need kms:Decrypt
  (and kms:GenerateDataKey to write) through DynamoDB.
* EventBridge: a bus under a customer managed key is used by events.amazonaws.com, which
  the key policy must allow for that bus (EventBridge user guide, "Authorizing EventBridge
  to use a customer managed key").
* CloudWatch Logs: a log group under a key is written by logs.<region>.amazonaws.com, which
  the key policy must allow with the group's encryption context.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from localcloud import seams
from localcloud.auth.principals import Caller, parse
from localcloud.auth.resources import split_arn


@dataclass(frozen=True)
class Requirement:
    caller: Caller
    action: str
    resource: str  # the key's ARN
    context: dict = field(default_factory=dict)
    code: str = "AccessDeniedException"
    status: int = 400
    message: str = ""  # when AWS words this failure its own way ("" : the KMS denial itself)


_SQS_SEND = frozenset({"sqs:sendmessage", "sqs:sendmessagebatch"})
_SQS_RECEIVE = frozenset({"sqs:receivemessage"})
_SECRET_READ = frozenset({"secretsmanager:getsecretvalue", "secretsmanager:batchgetsecretvalue"})
_DYNAMODB_READ = frozenset({"dynamodb:getitem", "dynamodb:batchgetitem", "dynamodb:query", "dynamodb:scan",
                            "dynamodb:transactgetitems", "dynamodb:conditioncheckitem"})
_DYNAMODB_WRITE = frozenset({"dynamodb:putitem", "dynamodb:updateitem", "dynamodb:deleteitem",
                             "dynamodb:batchwriteitem", "dynamodb:transactwriteitems"})
_LOG_WRITE = frozenset({"logs:putlogevents", "logs:createlogstream"})
_AWS_MANAGED_ALIAS = "alias/aws/"


def _key(reference: str, account: str, region: str) -> str | None:
    if not reference or reference.startswith(_AWS_MANAGED_ALIAS) or f":{_AWS_MANAGED_ALIAS}" in reference:
        return None  # an AWS managed key: its key policy allows the account through the service
    return seams.kms.key_arn(reference, account, region)


def _via(caller: Caller, service: str, region: str, context: dict, extra: dict) -> dict:
    merged = {**context, **extra}
    if caller.kind != "service":
        merged["kms:ViaService"] = f"{service}.{region}.amazonaws.com"
    return merged


def requirements(caller: Caller, action: str, resource: str, context: dict) -> list[Requirement]:
    parts = split_arn(resource)
    if parts is None:
        return []
    service, region, account, _name = parts
    lowered = action.lower()
    if service == "sqs" and lowered in _SQS_SEND | _SQS_RECEIVE:
        found = seams.sqs.queue_policy_and_key(resource)
        key = _key(found[1], account, region) if found else None
        if not key:
            return []
        kms_context = _via(caller, "sqs", region, context, {"kms:EncryptionContext:aws:sqs:arn": resource})
        wanted = ("kms:GenerateDataKey", "kms:Decrypt") if lowered in _SQS_SEND else ("kms:Decrypt",)
        return [Requirement(caller, a, key, kms_context, code="KMS.AccessDeniedException") for a in wanted]
    if service == "secretsmanager" and lowered in _SECRET_READ:
        found = seams.secretsmanager.policy_and_key(resource)
        key = _key(found[1], account, region) if found else None
        if not key:
            return []
        kms_context = _via(caller, "secretsmanager", region, context, {"kms:EncryptionContext:SecretARN": resource})
        return [Requirement(caller, "kms:Decrypt", key, kms_context, message="Access to KMS is not allowed")]
    if service == "dynamodb" and lowered in _DYNAMODB_READ | _DYNAMODB_WRITE:
        found = seams.dynamodb.policy_and_key(resource.split("/index/")[0])
        key = _key(found[1], account, region) if found else None
        if not key:
            return []
        kms_context = _via(caller, "dynamodb", region, context,
                           {"kms:EncryptionContext:aws:dynamodb:tableName": resource.split("/")[1]})
        wanted = ("kms:Decrypt",) if lowered in _DYNAMODB_READ else ("kms:Decrypt", "kms:GenerateDataKey")
        return [Requirement(caller, a, key, kms_context) for a in wanted]
    if service == "events" and lowered == "events:putevents" and ":event-bus/" in resource:
        found = seams.events.bus_policy_and_key(resource)
        key = _key(found[1], account, region) if found else None
        if not key:
            return []
        bus_context = {"aws:SourceArn": resource, "aws:SourceAccount": account,
                       "kms:EncryptionContext:aws:events:event-bus:arn": resource}
        return [Requirement(parse("events.amazonaws.com"), "kms:GenerateDataKey", key, bus_context)]
    if service == "logs" and lowered in _LOG_WRITE and ":log-group:" in resource:
        group = ":".join(resource.split(":")[:7])
        found = seams.logs.resource_policies_and_key(group)
        key = _key(found[1], account, region) if found else None
        if not key:
            return []
        logs_context = {"kms:EncryptionContext:aws:logs:arn": group, "aws:SourceAccount": account}
        return [Requirement(parse(f"logs.{region}.amazonaws.com"), "kms:GenerateDataKey", key, logs_context,
                            message=f"The specified KMS key does not exist or is not allowed to be used "
                                    f"with Arn '{group}'")]
    return []
