"""Event bus policies for a PutEvents from another account, evaluated by the local cloud's
IAM evaluation (localcloud/auth): principals, actions and resources, deny before allow,
and the organization and account conditions the backbone uses.

AWS: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-bus-perms.html and
the IAM evaluation logic (a condition key the request does not carry fails an ordinary
operator and satisfies a negated one).
"""

from __future__ import annotations

import pytest

from localcloud import auth, seams
from localcloud.auth import evaluation
from localcloud.auth.policy import compile_policy
from localcloud.auth.resources import ResourcePolicy

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


@pytest.fixture
def allows(monkeypatch):
    """allows(policy, sender, org) -> may the sender account's root put events on BUS?"""
    state = {}
    monkeypatch.setattr(evaluation, "resource_policy", lambda action, resource: ResourcePolicy(
        compile_policy(state["policy"]), kind="events") if state["policy"] is not None else None)
    monkeypatch.setattr(evaluation, "owner_account", lambda resource: OWNER)
    monkeypatch.setattr(seams.organizations, "organization_of", lambda account: state["orgs"].get(account))
    monkeypatch.setattr(auth.implied, "requirements", lambda *args: [])
    monkeypatch.setenv("LOCALCLOUD_IAM", "strict")

    def check(document, sender=SENDER, org=None, bus=BUS) -> bool:
        state["policy"], state["orgs"] = document, {sender: org}
        return auth.authorize(auth.Request(f"arn:aws:iam::{sender}:root", "events:PutEvents", bus)).allowed

    return check


def test_no_policy_denies(allows):
    assert allows(None) is False
    assert allows({}) is False
    assert allows(policy()) is False


def test_allow_by_account_principal(allows):
    document = policy(statement(principal={"AWS": SENDER}))
    assert allows(document, SENDER) is True
    assert allows(document, STRANGER) is False


def test_allow_by_list_of_accounts(allows):
    document = policy(statement(principal={"AWS": [STRANGER, SENDER]}))
    assert allows(document, SENDER) is True
    assert allows(document, STRANGER) is True
    assert allows(document, "555555555555") is False


@pytest.mark.parametrize("principal", ["*", {"AWS": "*"}])
def test_allow_by_star(allows, principal):
    document = policy(statement(principal=principal))
    assert allows(document, SENDER) is True
    assert allows(document, STRANGER) is True


def test_allow_by_account_root_arn(allows):
    document = policy(statement(principal={"AWS": f"arn:aws:iam::{SENDER}:root"}))
    assert allows(document, SENDER) is True
    assert allows(document, STRANGER) is False
    # an account id that merely starts with the sender's is another account
    assert allows(policy(statement(principal={"AWS": f"arn:aws:iam::{SENDER}1:root"})), SENDER) is False


def test_action_and_resource_must_match(allows):
    assert allows(policy(statement(principal="*", action="events:PutRule"))) is False
    assert allows(policy(statement(principal="*", action=["events:PutRule", "events:PutEvents"]))) is True
    assert allows(policy(statement(principal="*", action="events:*"))) is True
    other_bus = f"arn:aws:events:us-east-1:{OWNER}:event-bus/other"
    assert allows(policy(statement(principal="*", resource=other_bus))) is False
    assert allows(policy(statement(principal="*", resource=f"arn:aws:events:us-east-1:{OWNER}:event-bus/*"))) is True


def test_deny_wins(allows):
    document = policy(statement("Allow", "*", sid="all"), statement("Deny", {"AWS": STRANGER}, sid="not-stranger"))
    assert allows(document, SENDER) is True
    assert allows(document, STRANGER) is False
    deny_all = policy(statement("Allow", {"AWS": SENDER}, sid="a"), statement("Deny", "*", sid="d"))
    assert allows(deny_all, SENDER) is False


@pytest.mark.parametrize("condition", [
    {"StringEquals": {"aws:SourceVpc": "vpc-1"}},  # a key this request does not carry
    {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},  # the caller is on loopback
    {"Type": "StringEquals", "Key": "aws:PrincipalOrgID", "Value": ORG},  # not IAM syntax at all: fails closed
])
def test_a_condition_the_request_does_not_meet_withholds_the_allow(allows, condition):
    assert allows(policy(statement("Allow", "*", condition=condition)), SENDER, org=ORG) is False


@pytest.mark.parametrize("condition", [
    {"StringEquals": {"aws:SourceVpc": "vpc-1"}},
    {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
])
def test_a_deny_whose_condition_the_request_does_not_meet_does_not_apply(allows, condition):
    document = policy(statement("Allow", "*", sid="all"), statement("Deny", "*", condition=condition, sid="deny"))
    assert allows(document, SENDER, org=ORG) is True


def test_principal_org_id_condition(allows):
    document = policy(statement("Allow", "*", condition={"StringEquals": {"aws:PrincipalOrgID": ORG}}))
    assert allows(document, SENDER, org=ORG) is True
    assert allows(document, SENDER, org=None) is False  # an account in no organization
    assert allows(document, SENDER, org="o-someoneelse") is False
    like = policy(statement("Allow", "*", condition={"StringLike": {"aws:PrincipalOrgID": "o-abc*"}}))
    assert allows(like, SENDER, org=ORG) is True
    assert allows(like, SENDER, org="o-xyz") is False


def test_principal_account_condition(allows):
    document = policy(statement("Allow", "*", condition={"StringEquals": {"aws:PrincipalAccount": [SENDER, OWNER]}}))
    assert allows(document, SENDER) is True
    assert allows(document, STRANGER) is False


def test_deny_outside_organization(allows):
    document = policy(statement("Allow", "*", sid="all"),
                      statement("Deny", "*", sid="outside", condition={"StringNotEquals": {"aws:PrincipalOrgID": ORG}}))
    assert allows(document, SENDER, org=ORG) is True
    assert allows(document, SENDER, org="o-someoneelse") is False
    assert allows(document, SENDER, org=None) is False  # no organization: the negated operator holds
