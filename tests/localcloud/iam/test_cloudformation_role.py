"""CloudFormation acts as the stack's service role: passing it needs iam:PassRole, the role
must trust cloudformation.amazonaws.com, and each resource is created as the role.

AWS: https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-iam-servicerole.html
("CloudFormation uses the role's credentials to make calls on your behalf"; the user
"must have permission to pass the role", iam:PassRole).
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
from botocore.exceptions import ClientError

PAYMENTS = "222222222222"
TEMPLATE = json.dumps({"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}, "Topic": {"Type": "AWS::SNS::Topic"}}})


def _role(iam, service: str, actions: list[str]) -> str:
    name = f"cfn-role-{uuid.uuid4().hex[:8]}"
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]}
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}))
    return arn


def _final(cfn, name: str) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
        if not stack["StackStatus"].endswith("IN_PROGRESS"):
            return stack
        time.sleep(0.3)
    raise AssertionError(f"stack {name} still in progress")


def test_resources_are_created_as_the_service_role(aws):
    iam, cfn = aws("iam", PAYMENTS), aws("cloudformation", PAYMENTS)
    queues_only = _role(iam, "cloudformation.amazonaws.com", ["sqs:*"])
    name = f"as-role-{uuid.uuid4().hex[:8]}"
    cfn.create_stack(StackName=name, TemplateBody=TEMPLATE, RoleARN=queues_only)
    assert _final(cfn, name)["StackStatus"] in ("ROLLBACK_COMPLETE", "CREATE_FAILED")
    reasons = " ".join(e.get("ResourceStatusReason", "") for e in cfn.describe_stack_events(StackName=name)["StackEvents"]
                       if e["LogicalResourceId"] == "Topic")
    assert "is not authorized to perform: sns:CreateTopic" in reasons, reasons

    everything = _role(iam, "cloudformation.amazonaws.com", ["sqs:*", "sns:*"])
    name = f"as-role-{uuid.uuid4().hex[:8]}"
    cfn.create_stack(StackName=name, TemplateBody=TEMPLATE, RoleARN=everything)
    assert _final(cfn, name)["StackStatus"] == "CREATE_COMPLETE"


def test_passing_the_role_needs_iam_pass_role_and_its_trust(aws):
    iam = aws("iam", PAYMENTS)
    role = _role(iam, "cloudformation.amazonaws.com", ["sqs:*", "sns:*"])
    user = f"deployer-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="cfn", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "cloudformation:*", "Resource": "*"}]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    cfn = aws("cloudformation", key["AccessKeyId"], secret=key["SecretAccessKey"])
    with pytest.raises(ClientError) as refused:
        cfn.create_stack(StackName=f"no-pass-{uuid.uuid4().hex[:8]}", TemplateBody=TEMPLATE, RoleARN=role)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert "iam:PassRole" in refused.value.response["Error"]["Message"]

    lambda_role = _role(iam, "lambda.amazonaws.com", ["sqs:*"])  # a role CloudFormation may not assume
    with pytest.raises(ClientError) as invalid:
        aws("cloudformation", PAYMENTS).create_stack(StackName=f"no-trust-{uuid.uuid4().hex[:8]}",
                                                     TemplateBody=TEMPLATE, RoleARN=lambda_role)
    assert invalid.value.response["Error"]["Code"] == "ValidationError"
    assert "is invalid or cannot be assumed" in invalid.value.response["Error"]["Message"]
