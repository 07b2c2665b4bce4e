"""A transaction's journey: every hop of an app the console was not written for, across
accounts and regions; a failed workflow read from its log group in AWS's format; search
by a fragment of the body."""

from __future__ import annotations

import json
import time
import uuid

from localcloud.console import evidence
from localcloud.console.awsapi import clients_for
from localcloud.console.journey import FAILED, OK, PASSED, follow
from localcloud.console.search import find
from localcloud.console.topology import DELIVERS, LOGS, Link, Node, Topology, discover

from .conftest import post_order
from .orders_app import HUB, ORDERS, REGION, SECOND_REGION, SHIPPING

SCOPES = [(ORDERS, REGION), (HUB, REGION), (HUB, SECOND_REGION), (SHIPPING, REGION)]


def _until_ok(clients, topology, sha, body, since_ms, timeout=45.0):
    deadline = time.monotonic() + timeout
    journey = follow(clients, topology, sha, body, since_ms)
    while not journey.ok and time.monotonic() < deadline:
        time.sleep(0.5)
        journey = follow(clients, topology, sha, body, since_ms)
    return journey


def test_a_transaction_shows_every_hop_across_accounts_and_regions(localcloud, orders):
    clients = clients_for(localcloud.endpoint)
    body = json.dumps({"order": str(uuid.uuid4()), "items": ["tea", "cake"], "note": "über 100 €"}, ensure_ascii=False)
    sha = evidence.sha256_hex(body)
    sent_ms = post_order(localcloud, orders, body)
    topology = discover(clients, SCOPES)

    journey = _until_ok(clients, topology, sha, None, sent_ms - 1000)

    assert journey.ok, [(h.node.name, h.status, h.text) for h in journey.hops]
    assert journey.body == body  # found from the hash alone
    n = orders.name
    path = [(h.node.kind, h.node.name, h.node.account, h.node.region) for h in journey.hops]
    assert path[:7] == [("api", n("orders-api"), ORDERS, REGION), ("queue", n("orders"), ORDERS, REGION),
                        ("pipe", n("orders-pipe"), ORDERS, REGION), ("bus", n("orders-bus"), ORDERS, REGION),
                        ("rule", n("order-received"), ORDERS, REGION), ("workflow", n("orders-flow"), ORDERS, REGION),
                        ("function", n("record-order"), ORDERS, REGION)]
    for hop in [("bus", n("hub"), HUB, REGION), ("logs", f"/hub-audit/{orders.suffix}", HUB, REGION),
                ("bus", n("shipping"), SHIPPING, REGION), ("function", n("ship-order"), SHIPPING, REGION),
                ("bus", n("hub"), HUB, SECOND_REGION), ("logs", f"/hub-audit/{orders.suffix}", HUB, SECOND_REGION)]:
        assert hop in path, hop
    assert {h.status for h in journey.hops} <= {OK, PASSED}
    traced = {h.node.name: h for h in journey.hops if h.status == OK}
    assert traced[n("record-order")].at_ms >= sent_ms and traced[n("ship-order")].at_ms >= sent_ms
    assert f"{n('orders-archive')} (" in next(h.text for h in journey.hops if h.node.name == n("orders-bus"))


def test_search_by_a_fragment_of_the_body_finds_the_transaction(localcloud, orders):
    clients = clients_for(localcloud.endpoint)
    marker = uuid.uuid4().hex
    body = json.dumps({"order": marker, "items": ["bread"]})
    sent_ms = post_order(localcloud, orders, body)
    topology = discover(clients, SCOPES)
    assert _until_ok(clients, topology, evidence.sha256_hex(body), body, sent_ms - 1000).ok

    found = find(clients, topology, marker, sent_ms - 1000, int(time.time() * 1000) + 1000)

    assert [(f.sha256, f.body) for f in found] == [(evidence.sha256_hex(body), body)]
    assert find(clients, topology, marker, sent_ms - 120_000, sent_ms - 60_000) == []  # outside the window


# --- a workflow that failed, read from its log group in AWS's format --------------------
# The events below have the shape of AWS-recorded Step Functions logs (level ALL, with
# execution data), as in LocalStack's tests/aws/services/stepfunctions/v2/logs/
# test_logs.snapshot.json ("raise_failure.json5_ALL_True"), documented at
# https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html


class _Logs:
    def __init__(self, groups: dict[str, list[dict]]) -> None:
        self.groups = groups

    def filter_log_events(self, logGroupName, startTime, limit, filterPattern="", nextToken=None, endTime=None):
        events = [e for e in self.groups.get(logGroupName, []) if e["timestamp"] >= startTime
                  and (not filterPattern or filterPattern.strip('"') in e["message"])]
        return {"events": events}


class _Events:
    def test_event_pattern(self, EventPattern, Event):
        return {"Result": json.loads(Event)["source"] in json.loads(EventPattern)["source"]}


def _aws_log_event(n: int, kind: str, at_ms: int, execution: str, details: dict) -> dict:
    message = {"id": str(n), "type": kind, "details": details, "previous_event_id": str(n - 1),
               "event_timestamp": str(at_ms), "execution_arn": execution, "redrive_count": "0"}
    return {"timestamp": at_ms, "message": json.dumps(message), "logStreamName": "states/flow/x"}


def test_a_failed_workflow_is_where_the_journey_stops_with_its_error():
    account, region, body = "210987654321", "us-east-1", '{"order": 7}'
    bus = Node(f"arn:aws:events:{region}:{account}:event-bus/b", "bus", "b", account, region)
    rule = Node(f"arn:aws:events:{region}:{account}:rule/b/r", "rule", "r", account, region,
                info={"pattern": json.dumps({"source": ["shop"]})})
    workflow_logs = f"arn:aws:logs:{region}:{account}:log-group:/flow"
    workflow = Node(f"arn:aws:states:{region}:{account}:stateMachine:flow", "workflow", "flow", account, region,
                    info={"log_group": workflow_logs})
    topology = Topology(scopes=[(account, region)])
    for node in (bus, rule, workflow, Node(workflow_logs, "logs", "/flow", account, region)):
        topology.add(node)
    topology.links += [Link(bus.arn, rule.arn, DELIVERS), Link(rule.arn, workflow.arn, DELIVERS),
                       Link(workflow.arn, workflow_logs, LOGS)]
    execution = f"arn:aws:states:{region}:{account}:express:flow:e1:e2"
    event = {"version": "0", "id": "1", "source": "shop", "detail-type": "Order", "account": account,
             "region": region, "time": "2026-11-22T10:00:00Z", "resources": [], "detail": {"body": body}}
    logs = _Logs({"/flow": [
        _aws_log_event(1, "ExecutionStarted", 1000, execution,
                       {"input": json.dumps(event), "inputDetails": {"truncated": False}, "roleArn": "r"}),
        _aws_log_event(2, "FailStateEntered", 1005, execution, {"name": "FailState"}),
        _aws_log_event(3, "ExecutionFailed", 1010, execution,
                       {"cause": "This state machines raises a 'SomeFailure' failure.", "error": "SomeFailure"}),
    ]})
    clients = lambda service, *_: {"logs": logs, "events": _Events()}[service]  # noqa: E731

    journey = follow(clients, topology, evidence.sha256_hex(body), since_ms=0)

    assert [(h.node.name, h.status) for h in journey.hops] == [("b", PASSED), ("r", PASSED), ("flow", FAILED)]
    failed = journey.hops[-1]
    assert failed.at_ms == 1000
    assert "SomeFailure" in failed.text and "in 10 ms" in failed.text
    assert journey.stopped == "flow: SomeFailure"
    assert journey.body == body and journey.complete and not journey.ok
