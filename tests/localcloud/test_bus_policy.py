"""Bus resource-policy evaluation (localcloud/services/events/bus_policy.py): unit cases without
a server, then the policies as the server stores and enforces them."""

from __future__ import annotations

import json

import pytest

from localcloud.services.events import bus_policy

from .conftest import ACCOUNT_A, ACCOUNT_B, REGION
from .test_cfn_events import failure_reasons, wait_stack

OWNER = "333333333333"
SENDER = "222222222222"
STRANGER = "444444444444"
BUS = f"arn:aws:events:us-east-1:{OWNER}:event-bus/backbone"
ORG = "o-abc123def4"


def statement(effect: str = "Allow", principal=None, *, action="events:PutEvents", resource=BUS, condition=None,
              sid=None) -> dict:
    found = {"Sid": sid or f"{effect}-{len(str(principal))}", "Effect": effect,
             "Principal": principal if principal is not None else {"AWS": SENDER},
             "Action": action, "Resource": resource}
    if condition:
        found["Condition"] = condition
    return found


def policy(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allows(document, sender=SENDER, org=None, bus=BUS) -> bool:
    return bus_policy.allows(document, sender_account=sender, bus_arn=bus, organization_id=org)


# --- unit cases ----------------------------------------------------------------------

def test_no_policy_denies():
    assert allows(None) is False
    assert allows({}) is False
    assert allows(policy()) is False


def test_allow_by_account_principal():
    document = policy(statement(principal={"AWS": SENDER}))
    assert allows(document, SENDER) is True
    assert allows(document, STRANGER) is False


def test_allow_by_list_of_accounts():
    document = policy(statement(principal={"AWS": [STRANGER, SENDER]}))
    assert allows(document, SENDER) is True
    assert allows(document, STRANGER) is True
    assert allows(document, "555555555555") is False


@pytest.mark.parametrize("principal", ["*", {"AWS": "*"}])
def test_allow_by_star(principal):
    document = policy(statement(principal=principal))
    assert allows(document, SENDER) is True
    assert allows(document, STRANGER) is True


def test_allow_by_account_root_arn():
    document = policy(statement(principal={"AWS": f"arn:aws:iam::{SENDER}:root"}))
    assert allows(document, SENDER) is True
    assert allows(document, STRANGER) is False
    # an account id that merely starts with the sender's is another account
    assert allows(policy(statement(principal={"AWS": f"arn:aws:iam::{SENDER}1:root"})), SENDER) is False


def test_action_and_resource_must_match():
    assert allows(policy(statement(principal="*", action="events:PutRule"))) is False
    assert allows(policy(statement(principal="*", action=["events:PutRule", "events:PutEvents"]))) is True
    assert allows(policy(statement(principal="*", action="events:*"))) is True
    other_bus = f"arn:aws:events:us-east-1:{OWNER}:event-bus/other"
    assert allows(policy(statement(principal="*", resource=other_bus))) is False
    assert allows(policy(statement(principal="*", resource=f"arn:aws:events:us-east-1:{OWNER}:event-bus/*"))) is True


def test_deny_wins():
    document = policy(statement("Allow", "*", sid="all"), statement("Deny", {"AWS": STRANGER}, sid="not-stranger"))
    assert allows(document, SENDER) is True
    assert allows(document, STRANGER) is False
    deny_all = policy(statement("Allow", {"AWS": SENDER}, sid="a"), statement("Deny", "*", sid="d"))
    assert allows(deny_all, SENDER) is False


@pytest.mark.parametrize("condition", [
    {"StringEquals": {"aws:SourceVpc": "vpc-1"}},  # a key not evaluated locally
    {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},  # an operator not evaluated locally
    {"Type": "StringEquals", "Key": "aws:PrincipalOrgID", "Value": ORG},  # not IAM syntax at all
])
def test_unknown_condition_fails_closed_for_allow(condition):
    assert allows(policy(statement("Allow", "*", condition=condition)), SENDER, org=ORG) is False


@pytest.mark.parametrize("condition", [
    {"StringEquals": {"aws:SourceVpc": "vpc-1"}},
    {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
])
def test_unknown_condition_matches_for_deny(condition):
    document = policy(statement("Allow", "*", sid="all"), statement("Deny", "*", condition=condition, sid="deny"))
    assert allows(document, SENDER, org=ORG) is False


def test_principal_org_id_condition():
    document = policy(statement("Allow", "*", condition={"StringEquals": {"aws:PrincipalOrgID": ORG}}))
    assert allows(document, SENDER, org=ORG) is True
    assert allows(document, SENDER, org=None) is False  # an account in no organization
    assert allows(document, SENDER, org="o-someoneelse") is False
    like = policy(statement("Allow", "*", condition={"StringLike": {"aws:PrincipalOrgID": "o-abc*"}}))
    assert allows(like, SENDER, org=ORG) is True
    assert allows(like, SENDER, org="o-xyz") is False


def test_principal_account_condition():
    document = policy(statement("Allow", "*", condition={"StringEquals": {"aws:PrincipalAccount": [SENDER, OWNER]}}))
    assert allows(document, SENDER) is True
    assert allows(document, STRANGER) is False


def test_deny_outside_organization_with_org_present():
    document = policy(statement("Allow", "*", sid="all"),
                      statement("Deny", "*", sid="outside", condition={"StringNotEquals": {"aws:PrincipalOrgID": ORG}}))
    assert allows(document, SENDER, org=ORG) is True
    assert allows(document, SENDER, org="o-someoneelse") is False


def test_deny_outside_organization_denies_an_account_in_no_organization():
    document = policy(statement("Allow", "*", sid="all"),
                      statement("Deny", "*", sid="outside", condition={"StringNotEquals": {"aws:PrincipalOrgID": ORG}}))
    assert allows(document, SENDER, org=None) is False


# --- on the server: the policy the bus keeps is the one enforced ----------------------

def put_entry(bus_arn: str) -> dict:
    return {"EventBusName": bus_arn, "Source": "com.example.policy", "DetailType": "t", "Detail": "{}"}


def test_put_permission_for_everyone_is_enforced_and_removable(aws, unique):
    owner = aws("events", ACCOUNT_B)
    bus = unique("pol-star-bus")
    bus_arn = owner.create_event_bus(Name=bus)["EventBusArn"]
    entry = put_entry(bus_arn)
    assert aws("events", ACCOUNT_A).put_events(Entries=[entry])["Entries"][0]["ErrorCode"] == "AccessDeniedException"
    owner.put_permission(EventBusName=bus, Action="events:PutEvents", Principal="*", StatementId="everyone")
    assert aws("events", ACCOUNT_A).put_events(Entries=[entry])["FailedEntryCount"] == 0
    assert aws("events", STRANGER).put_events(Entries=[entry])["FailedEntryCount"] == 0
    owner.remove_permission(EventBusName=bus, StatementId="everyone")
    assert aws("events", ACCOUNT_A).put_events(Entries=[entry])["Entries"][0]["ErrorCode"] == "AccessDeniedException"


def test_put_permission_by_account_is_enforced(aws, unique):
    owner = aws("events", ACCOUNT_B)
    bus = unique("pol-bus")
    bus_arn = owner.create_event_bus(Name=bus)["EventBusArn"]
    entry = put_entry(bus_arn)
    owner.put_permission(EventBusName=bus, Action="events:PutEvents", Principal=ACCOUNT_A, StatementId="allow-a")
    assert aws("events", STRANGER).put_events(Entries=[entry])["Entries"][0]["ErrorCode"] == "AccessDeniedException"
    assert aws("events", ACCOUNT_A).put_events(Entries=[entry])["FailedEntryCount"] == 0


def test_put_permission_with_a_full_policy_document_is_kept(aws, unique):
    owner = aws("events", ACCOUNT_B)
    bus = unique("pol-doc-bus")
    bus_arn = owner.create_event_bus(Name=bus)["EventBusArn"]
    document = policy(statement("Allow", {"AWS": f"arn:aws:iam::{ACCOUNT_A}:root"}, resource=bus_arn, sid="only-a"))
    owner.put_permission(EventBusName=bus, Policy=json.dumps(document))
    assert aws("events", STRANGER).put_events(Entries=[put_entry(bus_arn)])["Entries"][0].get("ErrorCode") \
        == "AccessDeniedException"
    assert json.loads(owner.describe_event_bus(Name=bus)["Policy"]) == document


def org_template(bus: str, org_id: str) -> dict:
    return {"Resources": {
        "Bus": {"Type": "AWS::Events::EventBus", "Properties": {"Name": bus}},
        "OrgPolicy": {"Type": "AWS::Events::EventBusPolicy", "Properties": {
            "EventBusName": {"Ref": "Bus"}, "StatementId": "AllowOrg",
            "Statement": {"Effect": "Allow", "Principal": "*", "Action": "events:PutEvents",
                          "Resource": {"Fn::GetAtt": ["Bus", "Arn"]},
                          "Condition": {"StringEquals": {"aws:PrincipalOrgID": org_id}}}}},
    }}


def test_org_condition_denies_an_account_outside_the_organization(aws, unique):
    manager = "555555555555"  # used by the organization tests only
    org_id = aws("organizations", manager).describe_organization()["Organization"]["Id"]
    cfn, stack = aws("cloudformation", ACCOUNT_B), unique("pol-org")
    bus = unique("pol-org-bus")
    cfn.create_stack(StackName=stack, TemplateBody=json.dumps(org_template(bus, org_id)))
    assert wait_stack(cfn, stack)["StackStatus"] == "CREATE_COMPLETE", failure_reasons(cfn, stack)
    bus_arn = f"arn:aws:events:{REGION}:{ACCOUNT_B}:event-bus/{bus}"
    denied = aws("events", ACCOUNT_A).put_events(Entries=[put_entry(bus_arn)])
    assert denied["Entries"][0]["ErrorCode"] == "AccessDeniedException"


def test_org_condition_allows_an_account_in_the_organization(aws, unique):
    manager = "666666666666"  # used by this test only: once in an org, its cross-account puts crash
    org_id = aws("organizations", manager).describe_organization()["Organization"]["Id"]
    cfn, stack = aws("cloudformation", ACCOUNT_B), unique("pol-org-in")
    bus = unique("pol-org-in-bus")
    cfn.create_stack(StackName=stack, TemplateBody=json.dumps(org_template(bus, org_id)))
    assert wait_stack(cfn, stack)["StackStatus"] == "CREATE_COMPLETE", failure_reasons(cfn, stack)
    bus_arn = f"arn:aws:events:{REGION}:{ACCOUNT_B}:event-bus/{bus}"
    allowed = aws("events", manager).put_events(Entries=[put_entry(bus_arn)])
    assert allowed["FailedEntryCount"] == 0, allowed
