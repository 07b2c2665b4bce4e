"""Least-privilege wiring for parity tests: roles that trust one service and allow a few
actions, queues whose policy lets one rule send to them, and reading what arrived."""

from __future__ import annotations

import json
import uuid

from tests.localcloud.conftest import ACCOUNT_A, REGION, drain, queue_arn


def role(aws, unique, service: str, statements: list[dict], account: str = ACCOUNT_A) -> str:
    """A role ``service`` (e.g. "events.amazonaws.com") may assume, allowed exactly ``statements``."""
    iam = aws("iam", account)
    name = f"{unique(service.split('.')[0])}-{uuid.uuid4().hex[:6]}"
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="least-privilege",
                        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}))
    return arn


def rule_to_queue(aws, unique, bus: str, pattern: dict, account: str = ACCOUNT_A, region: str = REGION,
                  **target) -> str:
    """A rule on ``bus`` sending matching events to a new queue whose policy admits that rule
    only (as CDK's SqsQueue target writes it); returns the queue URL. ``target`` adds target
    fields (Input, InputPath, InputTransformer)."""
    sqs, events = aws("sqs", account, region), aws("events", account, region)
    name = unique("rule-q")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = queue_arn(sqs, url)
    rule_arn = events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps(pattern))["RuleArn"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
                       "Action": "sqs:SendMessage", "Resource": arn,
                       "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}}}],
    })})
    events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": "queue", "Arn": arn, **target}])
    return url


def bodies(aws, url: str, expected: int, account: str = ACCOUNT_A, region: str = REGION,
           timeout: float = 10.0) -> list[str]:
    return [m["Body"] for m in drain(aws("sqs", account, region), url, expected=expected, timeout=timeout)]


def nothing_arrives(aws, url: str, account: str = ACCOUNT_A, region: str = REGION, quiet: float = 1.0) -> bool:
    return drain(aws("sqs", account, region), url, expected=None, timeout=quiet, quiet=quiet) == []
