"""Every Allow statement the deployed stacks grant, read from the synthesized templates (the
cloud assembly ``ops.deploy_local`` deployed), and how to take one away and give it back on
the running local cloud through the AWS APIs (IAM, KMS, SQS, EventBridge, Logs, Lambda).

A grant is one statement of: an IAM policy attached to roles, a role's trust policy, a KMS
key policy, an SQS queue policy, an EventBridge bus policy, a CloudWatch Logs resource
policy, or a Lambda permission. Deployed documents keep the template's statement order, so
a grant is removed by its index.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

STACK_WHERE = {  # stack -> (account, region), as config/local.json deploys them
    "Backbone": ("111111111111", "us-east-1"), "BackboneSecondRegion": ("111111111111", "eu-west-1"),
    "PaymentsBus": ("222222222222", "us-east-1"), "PaymentsTransactionPipeline": ("222222222222", "us-east-1"),
    "LedgerBus": ("333333333333", "us-east-1"),
}
KINDS = {"AWS::IAM::Policy": "iam-policy", "AWS::IAM::Role": "trust", "AWS::KMS::Key": "key-policy",
         "AWS::SQS::QueuePolicy": "queue-policy", "AWS::Events::EventBusPolicy": "bus-policy",
         "AWS::Logs::ResourcePolicy": "logs-policy", "AWS::Lambda::Permission": "lambda-permission"}


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def refs(value) -> set[str]:
    """Logical ids a template value refers to (Ref, Fn::GetAtt)."""
    found: set[str] = set()
    if isinstance(value, dict):
        if "Ref" in value:
            found.add(value["Ref"])
        if "Fn::GetAtt" in value:
            found.add(value["Fn::GetAtt"][0])
        for item in value.values():
            found |= refs(item)
    elif isinstance(value, list):
        for item in value:
            found |= refs(item)
    return found


@dataclass
class Grant:
    stack: str
    logical_id: str  # the resource holding the statement
    kind: str
    index: int  # statement index in the deployed document
    statement: dict  # as synthesized
    template: dict = field(repr=False)

    @property
    def account(self) -> str:
        return STACK_WHERE[self.stack][0]

    @property
    def region(self) -> str:
        return STACK_WHERE[self.stack][1]

    @property
    def actions(self) -> list[str]:
        return [str(a) for a in as_list(self.statement.get("Action", []))]

    @property
    def principal_services(self) -> list[str]:
        principal = self.statement.get("Principal") or {}
        return [str(s) for s in as_list(principal.get("Service", []))] if isinstance(principal, dict) else []

    @property
    def label(self) -> str:
        sid = self.statement.get("Sid")
        what = ",".join(self.actions) or "?"
        who = ",".join(self.principal_services) or ""
        return f"{self.stack}/{self.logical_id}[{self.index}]" + (f" {sid}" if sid else "") + f" {what}" + \
            (f" for {who}" if who else "")

    def resources_referring(self, logical_id: str) -> list[tuple[str, dict]]:
        return [(lid, r) for lid, r in self.template["Resources"].items() if logical_id in refs(r.get("Properties"))]


def _statements(resource: dict, kind: str) -> list[dict]:
    props = resource["Properties"]
    if kind == "iam-policy":
        return as_list(props["PolicyDocument"]["Statement"])
    if kind == "trust":
        return as_list(props["AssumeRolePolicyDocument"]["Statement"])
    if kind == "key-policy":
        return as_list(props["KeyPolicy"]["Statement"])
    if kind == "queue-policy":
        return as_list(props["PolicyDocument"]["Statement"])
    if kind == "bus-policy":
        return as_list(props.get("Statement") or {})
    if kind == "logs-policy":
        return [{"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                 "Principal": {"Service": ["events.amazonaws.com", "delivery.logs.amazonaws.com"]}}]
    if kind == "lambda-permission":
        return [{"Effect": "Allow", "Action": props["Action"], "Principal": {"Service": props["Principal"]}}]
    return []


def all_grants(assembly: Path) -> list[Grant]:
    grants = []
    for stack in STACK_WHERE:
        template = json.loads((assembly / f"{stack}.template.json").read_text())
        for logical_id, resource in template["Resources"].items():
            kind = KINDS.get(resource["Type"])
            if not kind:
                continue
            for index, statement in enumerate(_statements(resource, kind)):
                if statement.get("Effect") == "Allow":
                    grants.append(Grant(stack, logical_id, kind, index, statement, template))
    return grants


# --- taking a grant away on the running local cloud, and giving it back ---------------------------


class Mutator:
    """Removes one grant from the deployed resources; ``restore()`` puts back what it changed."""

    def __init__(self, client: Callable) -> None:
        self.client = client  # client(service, account, region)
        self._physical: dict[str, dict[str, str]] = {}

    def physical(self, grant: Grant, logical_id: str) -> str:
        if grant.stack not in self._physical:
            cfn = self.client("cloudformation", grant.account, grant.region)
            resources = cfn.list_stack_resources(StackName=grant.stack)["StackResourceSummaries"]
            self._physical[grant.stack] = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources}
        return self._physical[grant.stack][logical_id]

    def remove(self, grant: Grant) -> Callable[[], None]:
        """Take ``grant`` away; returns the function that restores it."""
        return getattr(self, "_remove_" + grant.kind.replace("-", "_"))(grant)

    def _without(self, document, index: int) -> dict:
        document = json.loads(document) if isinstance(document, str) else document
        statements = as_list(document["Statement"])
        return {**document, "Statement": statements[:index] + statements[index + 1:]}

    def _remove_iam_policy(self, grant: Grant) -> Callable[[], None]:
        iam = self.client("iam", grant.account, grant.region)
        props = grant.template["Resources"][grant.logical_id]["Properties"]
        roles = [self.physical(grant, ref) for role in props["Roles"] for ref in refs(role)]
        name = props["PolicyName"]
        originals = {role: iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"] for role in roles}
        for role, document in originals.items():
            remaining = self._without(document, grant.index)
            if remaining["Statement"]:
                iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(remaining))
            else:  # IAM refuses a policy without statements: the policy goes
                iam.delete_role_policy(RoleName=role, PolicyName=name)
        return lambda: [iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(document))
                        for role, document in originals.items()]

    def _remove_trust(self, grant: Grant) -> Callable[[], None]:
        iam = self.client("iam", grant.account, grant.region)
        role = self.physical(grant, grant.logical_id)
        original = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
        remaining = self._without(original, grant.index)
        # IAM refuses a trust policy without statements: one that trusts a service that never acts
        remaining["Statement"] = remaining["Statement"] or [
            {"Effect": "Allow", "Principal": {"Service": "nobody.localcloud.invalid"}, "Action": "sts:AssumeRole"}]
        iam.update_assume_role_policy(RoleName=role, PolicyDocument=json.dumps(remaining))
        return lambda: iam.update_assume_role_policy(RoleName=role, PolicyDocument=json.dumps(original))

    def _remove_key_policy(self, grant: Grant) -> Callable[[], None]:
        kms = self.client("kms", grant.account, grant.region)
        key = self.physical(grant, grant.logical_id)
        original = kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"]
        remaining = self._without(original, grant.index)
        # Without the account's own statement nobody could put the policy back (AWS's lockout):
        # the test keeps itself the two key-policy calls, and nothing else.
        remaining["Statement"].append({"Sid": "GrantMutationTestMayRestore", "Effect": "Allow",
                                       "Principal": {"AWS": f"arn:aws:iam::{grant.account}:root"},
                                       "Action": ["kms:GetKeyPolicy", "kms:PutKeyPolicy"], "Resource": "*"})
        kms.put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps(remaining),
                           BypassPolicyLockoutSafetyCheck=True)
        return lambda: kms.put_key_policy(KeyId=key, PolicyName="default", Policy=original)

    def _remove_queue_policy(self, grant: Grant) -> Callable[[], None]:
        sqs = self.client("sqs", grant.account, grant.region)
        props = grant.template["Resources"][grant.logical_id]["Properties"]
        urls = [self.physical(grant, ref) for queue in props["Queues"] for ref in refs(queue)]
        originals = {url: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"]
                     for url in urls}
        for url, policy in originals.items():
            sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(self._without(policy, grant.index))})
        return lambda: [sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy})
                        for url, policy in originals.items()]

    def _remove_bus_policy(self, grant: Grant) -> Callable[[], None]:
        events = self.client("events", grant.account, grant.region)
        props = grant.template["Resources"][grant.logical_id]["Properties"]
        bus = self.physical(grant, next(iter(refs(props["EventBusName"]))))
        bus = bus.rsplit("/", 1)[-1]
        original = events.describe_event_bus(Name=bus)["Policy"]
        events.remove_permission(EventBusName=bus, StatementId=props["StatementId"])
        return lambda: events.put_permission(EventBusName=bus, Policy=original)

    def _remove_logs_policy(self, grant: Grant) -> Callable[[], None]:
        logs = self.client("logs", grant.account, grant.region)
        name = grant.template["Resources"][grant.logical_id]["Properties"]["PolicyName"]
        original = next(p["policyDocument"] for p in logs.describe_resource_policies()["resourcePolicies"]
                        if p["policyName"] == name)
        logs.delete_resource_policy(policyName=name)
        return lambda: logs.put_resource_policy(policyName=name, policyDocument=original)

    def _remove_lambda_permission(self, grant: Grant) -> Callable[[], None]:
        lam = self.client("lambda", grant.account, grant.region)
        props = grant.template["Resources"][grant.logical_id]["Properties"]
        function = self.physical(grant, next(iter(refs(props["FunctionName"]))))
        sid = self.physical(grant, grant.logical_id)
        policy = json.loads(lam.get_policy(FunctionName=function)["Policy"])
        statement = next(s for s in policy["Statement"] if s["Sid"] == sid)
        source_arn = next(iter(next(iter(statement["Condition"].values())).values()))
        lam.remove_permission(FunctionName=function, StatementId=sid)
        return lambda: lam.add_permission(FunctionName=function, StatementId=sid, Action=props["Action"],
                                          Principal=props["Principal"], SourceArn=source_arn)
