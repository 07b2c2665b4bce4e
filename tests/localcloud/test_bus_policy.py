"""Bus policies as the server stores and enforces them (PutPermission, a full policy
document, an organization condition). The evaluation itself is unit-tested in
tests/unit/auth/test_bus_policies.py."""

from __future__ import annotations

import json

from .conftest import ACCOUNT_A, ACCOUNT_B, REGION
from .test_cfn_events import failure_reasons, wait_stack

OWNER = "333333333333"
SENDER = "222222222222"
STRANGER = "444444444444"
ORG = "o-abc123def4"


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
    document = {"Version": "2012-10-17", "Statement": [{
        "Sid": "only-a", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_A}:root"},
        "Action": "events:PutEvents", "Resource": bus_arn}]}
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
