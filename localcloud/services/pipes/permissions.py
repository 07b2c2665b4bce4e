"""The IAM actions a pipe's execution role performs, asked of ``localcloud.auth`` before
each one, as AWS evaluates the role.

https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-permissions.html
(sources, and "Enrichment and target permissions"); log destinations:
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-logs.html
"""

from __future__ import annotations

from localcloud import auth

# What a poller does with its source, per read.
SOURCE_READ = {
    "sqs": ("sqs:ReceiveMessage", "sqs:GetQueueAttributes"),
    "dynamodb": ("dynamodb:DescribeStream", "dynamodb:GetShardIterator", "dynamodb:GetRecords"),
    "kinesis": ("kinesis:ListShards", "kinesis:GetShardIterator", "kinesis:GetRecords"),
}
SOURCE_DELETE = {"sqs": ("sqs:DeleteMessage",)}

AccessDenied = auth.AccessDenied


def require(definition: dict, actions: tuple[str, ...] | str, resource: str) -> None:
    """Raise :class:`AccessDenied` unless Pipes may assume the pipe's role (its trust
    policy) and the role may do every one of ``actions``."""
    pipe = definition.get("Arn", "")
    role = auth.acting_role("pipes.amazonaws.com", definition.get("RoleArn", ""),
                            **{"aws:SourceArn": pipe, "aws:SourceAccount": pipe.split(":")[4] if pipe.count(":") > 4 else ""})
    for action in (actions,) if isinstance(actions, str) else actions:
        auth.require(role, action, resource, **{"aws:SourceArn": pipe})


def invoke_action(kind: str, parameters: dict | None = None) -> str:
    """The action that invokes an enrichment or target of ``kind``."""
    if kind == "states":
        invocation = (parameters or {}).get("InvocationType", "FIRE_AND_FORGET")
        return "states:StartSyncExecution" if invocation == "REQUEST_RESPONSE" else "states:StartExecution"
    return {"events": "events:PutEvents", "lambda": "lambda:InvokeFunction", "sqs": "sqs:SendMessage",
            "sns": "sns:Publish", "kinesis": "kinesis:PutRecords", "firehose": "firehose:PutRecordBatch",
            "logs": "logs:PutLogEvents", "api-destination": "events:InvokeApiDestination",
            "api-gateway": "execute-api:Invoke"}[kind]
