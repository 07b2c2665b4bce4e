"""Rules whose target is a bus in another account or region (localcloud/services/events/
cross_account.py), and PutEvents naming another account's bus (put_events.py)."""

from __future__ import annotations

import json

import pytest

from .conftest import ACCOUNT_A, ACCOUNT_B, ACCOUNT_C, OTHER_REGION, REGION, allow, drain
from .test_cfn_events import failure_reasons, wait_stack

SOURCE = "com.example.cross"
STRANGER = "444444444444"


class Buses:
    """Buses with observer queues, per (account, region)."""

    def __init__(self, aws, unique, observer, role):
        self.aws, self.unique, self.observer, self.role = aws, unique, observer, role

    def make(self, label: str, account: str, region: str = REGION, allow_accounts: tuple[str, ...] = ()) -> dict:
        events = self.aws("events", account, region)
        name = self.unique(f"x-{label}")
        arn = events.create_event_bus(Name=name)["EventBusArn"]
        if allow_accounts:
            policy_via_stack(self.aws, self.unique, account, region, name, arn, allow_accounts)
        seen = self.observer(name, account, region, pattern={"source": [SOURCE]})
        return {"name": name, "arn": arn, "account": account, "region": region, "seen": seen, "events": events}

    def forward(self, source: dict, target: dict, role: bool = True) -> None:
        """A rule on ``source`` sending every SOURCE event to ``target``'s bus."""
        rule = self.unique(f"fwd-{target['account']}-{target['region']}")
        events = source["events"]
        events.put_rule(Name=rule, EventBusName=source["name"], EventPattern=json.dumps({"source": [SOURCE]}))
        spec = {"Id": "bus", "Arn": target["arn"]}
        if role:  # EventBridge delivers to a bus as the target's role
            spec["RoleArn"] = self.role("events.amazonaws.com", [allow("events:PutEvents", target["arn"])],
                                        source["account"])
        events.put_targets(Rule=rule, EventBusName=source["name"], Targets=[spec])

    def received(self, bus: dict, expected: int | None = None, timeout: float = 3.0) -> list[dict]:
        sqs = self.aws("sqs", bus["account"], bus["region"])
        quiet = 0.3 if expected else 0.6
        return [json.loads(m["Body"]) for m in drain(sqs, bus["seen"], expected=expected, timeout=timeout, quiet=quiet)]


def policy_via_stack(aws, unique, account, region, bus_name, bus_arn, accounts) -> None:
    """The bus policy, written the way CDK writes it (AWS::Events::EventBusPolicy): ministack's
    own PutPermission stores account principals in a shape no policy check accepts (see
    test_bus_policy)."""
    cfn = aws("cloudformation", account, region)
    stack = unique(f"pol-{bus_name[-14:]}")
    template = {"Resources": {"Policy": {"Type": "AWS::Events::EventBusPolicy", "Properties": {
        "EventBusName": bus_name, "StatementId": "AllowSenders",
        "Statement": {"Effect": "Allow", "Principal": {"AWS": [f"arn:aws:iam::{a}:root" for a in accounts]},
                      "Action": "events:PutEvents", "Resource": bus_arn}}}}}
    cfn.create_stack(StackName=stack, TemplateBody=json.dumps(template))
    assert wait_stack(cfn, stack)["StackStatus"] == "CREATE_COMPLETE", failure_reasons(cfn, stack)


@pytest.fixture
def buses(aws, unique, observer, role) -> Buses:
    return Buses(aws, unique, observer, role)


def put(bus: dict, detail: dict, as_account: str | None = None, bus_ref: str | None = None) -> dict:
    """PutEvents on ``bus`` (by name, in its own account; or by ``bus_ref`` as ``as_account``)."""
    return bus["events"].put_events(Entries=[{
        "EventBusName": bus_ref or bus["name"], "Source": SOURCE, "DetailType": "Transfer",
        "Detail": json.dumps(detail)}])


def test_rule_target_bus_in_another_account_delivers_when_its_policy_allows(buses):
    a = buses.make("a", ACCOUNT_A)
    b = buses.make("b", ACCOUNT_B, allow_accounts=(ACCOUNT_A,))
    buses.forward(a, b)
    result = put(a, {"n": 1})
    assert result["FailedEntryCount"] == 0
    delivered = buses.received(b, expected=1)
    assert [e["detail"] for e in delivered] == [{"n": 1}]
    event = delivered[0]
    assert event["account"] == ACCOUNT_A  # the original sender, not the receiving bus's account
    assert event["id"] == result["Entries"][0]["EventId"]
    assert (event["source"], event["detail-type"], event["region"]) == (SOURCE, "Transfer", REGION)


def test_rule_target_bus_in_another_account_is_dropped_when_its_policy_does_not_allow(buses):
    a = buses.make("a", ACCOUNT_A)
    b_closed = buses.make("b-closed", ACCOUNT_B)  # no policy at all
    b_other = buses.make("b-other", ACCOUNT_B, allow_accounts=(STRANGER,))  # a policy for someone else
    buses.forward(a, b_closed)
    buses.forward(a, b_other)
    assert put(a, {"n": 2})["FailedEntryCount"] == 0
    assert [e["detail"] for e in buses.received(a, expected=1)] == [{"n": 2}]  # A's own bus got it
    assert buses.received(b_closed) == []
    assert buses.received(b_other, timeout=1) == []


def test_cross_region_same_account_forwarding(buses):
    east = buses.make("east", ACCOUNT_A, REGION)
    west = buses.make("west", ACCOUNT_A, OTHER_REGION)  # same account: no policy needed
    buses.forward(east, west)
    assert put(east, {"n": 3})["FailedEntryCount"] == 0
    delivered = buses.received(west, expected=1)
    assert [e["detail"] for e in delivered] == [{"n": 3}]
    assert (delivered[0]["account"], delivered[0]["region"]) == (ACCOUNT_A, REGION)  # the source region, as on AWS


def test_a_second_bus_to_bus_hop_is_not_forwarded(buses):
    a = buses.make("a", ACCOUNT_A)
    b = buses.make("b", ACCOUNT_B, allow_accounts=(ACCOUNT_A,))
    c = buses.make("c", ACCOUNT_C, allow_accounts=(ACCOUNT_A, ACCOUNT_B))
    buses.forward(a, b)
    buses.forward(b, c)
    # control: B's own events do reach C, so C's policy and B's rule work
    assert put(b, {"hop": "from-b"})["FailedEntryCount"] == 0
    assert [e["detail"] for e in buses.received(c, expected=1)] == [{"hop": "from-b"}]
    assert [e["detail"] for e in buses.received(b, expected=1)] == [{"hop": "from-b"}]
    # A -> B is delivered, B -> C is a second hop: C gets nothing
    assert put(a, {"hop": "from-a"})["FailedEntryCount"] == 0
    assert [e["detail"] for e in buses.received(b, expected=1)] == [{"hop": "from-a"}]
    assert buses.received(c) == []


def test_put_events_on_another_accounts_bus_arn_is_checked_against_its_policy(aws, buses):
    b = buses.make("b", ACCOUNT_B, allow_accounts=(ACCOUNT_A,))
    entry = {"EventBusName": b["arn"], "Source": SOURCE, "DetailType": "Direct", "Detail": json.dumps({"n": 4})}

    denied = aws("events", STRANGER).put_events(Entries=[entry])
    assert denied["FailedEntryCount"] == 1
    assert denied["Entries"][0]["ErrorCode"] == "AccessDeniedException"
    assert "EventId" not in denied["Entries"][0]
    assert buses.received(b, timeout=1) == []

    allowed = aws("events", ACCOUNT_A).put_events(Entries=[entry])
    assert allowed["FailedEntryCount"] == 0
    delivered = buses.received(b, expected=1)
    assert [e["detail"] for e in delivered] == [{"n": 4}]
    assert delivered[0]["account"] == ACCOUNT_A
    assert delivered[0]["id"] == allowed["Entries"][0]["EventId"]


def test_put_events_batch_mixing_own_and_foreign_buses(aws, buses):
    a = buses.make("a", ACCOUNT_A)
    b = buses.make("b", ACCOUNT_B, allow_accounts=(ACCOUNT_A,))
    closed = buses.make("closed", ACCOUNT_B)

    def entry(bus_ref, n):
        return {"EventBusName": bus_ref, "Source": SOURCE, "DetailType": "Mixed", "Detail": json.dumps({"n": n})}

    result = aws("events", ACCOUNT_A).put_events(Entries=[entry(b["arn"], 1), entry(closed["arn"], 2),
                                                          entry(a["name"], 3), entry(a["arn"], 4)])
    assert result["FailedEntryCount"] == 1
    assert ["EventId" in e for e in result["Entries"]] == [True, False, True, True]
    assert result["Entries"][1]["ErrorCode"] == "AccessDeniedException"
    assert [e["detail"] for e in buses.received(b, expected=1)] == [{"n": 1}]
    assert sorted(e["detail"]["n"] for e in buses.received(a, expected=2)) == [3, 4]
    assert buses.received(closed, timeout=1) == []


def test_put_events_on_a_missing_foreign_bus_is_refused_like_one_without_a_policy(aws, unique):
    # Cross-account access needs the resource's policy to allow it; a bus that does not exist has
    # none (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html).
    missing = f"arn:aws:events:{REGION}:{ACCOUNT_B}:event-bus/{unique('nope')}"
    result = aws("events", ACCOUNT_A).put_events(Entries=[
        {"EventBusName": missing, "Source": SOURCE, "DetailType": "t", "Detail": "{}"}])
    assert result["FailedEntryCount"] == 1
    assert result["Entries"][0]["ErrorCode"] == "AccessDeniedException"
