"""The topology is read from the local cloud's own resources, for an app the console was
not written for (orders_app.py): every kind of resource, the links between them across
accounts and regions, and live counts."""

from __future__ import annotations

import re

from localcloud.console.awsapi import clients_for
from localcloud.console.topology import ARCHIVES, DEAD_LETTER, DELIVERS, LOGS, REFERENCES, discover
from localcloud.console.web import TOPOLOGY_MAX_AGE_S

from ..conftest import wait_for
from .orders_app import HUB, ORDERS, REGION, SECOND_REGION, SHIPPING

SCOPES = [(ORDERS, REGION), (HUB, REGION), (HUB, SECOND_REGION), (SHIPPING, REGION)]


def _links(topology, kind):
    named = lambda arn: topology.nodes[arn].name if arn in topology.nodes else arn  # noqa: E731
    return {(named(l.source), named(l.target)) for l in topology.links if l.kind == kind
            and l.source in topology.nodes and l.target in topology.nodes}


def test_every_resource_and_link_of_an_app_is_found(localcloud, orders):
    topology = discover(clients_for(localcloud.endpoint), SCOPES)
    n = orders.name
    assert topology.errors == []
    delivers = _links(topology, DELIVERS)
    assert {(n("orders-api"), n("orders")), (n("orders"), n("orders-pipe")), (n("orders-pipe"), n("orders-bus")),
            (n("orders-bus"), n("order-received")), (n("order-received"), n("orders-flow")),
            (n("orders-flow"), n("record-order")), (n("hub"), n("to-shipping")), (n("to-shipping"), n("shipping")),
            (n("to-second-region"), n("hub")), (n("shipping-orders"), n("ship-order"))} <= delivers
    assert (n("orders"), n("orders-dlq")) in _links(topology, DEAD_LETTER)
    assert (n("orders-bus"), n("orders-archive")) in _links(topology, ARCHIVES)
    assert (n("record-order"), n("hub")) in _links(topology, REFERENCES)
    assert (n("orders-flow"), f"/orders-flow/{orders.suffix}") in _links(topology, LOGS)
    api_link = next(l for l in topology.links if l.target == orders.arns["queue"] and l.kind == DELIVERS)
    assert api_link.label == "POST / (SQS-SendMessage)"
    second_hub = next(x for x in topology.nodes.values() if x.name == n("hub") and x.region == SECOND_REGION)
    assert (second_hub.account, second_hub.kind) == (HUB, "bus")
    workflow = topology.nodes[orders.arns["workflow"]]
    assert (workflow.info["type"], workflow.info["log_level"]) == ("EXPRESS", "ALL")


def test_the_topology_part_draws_each_account_and_region_with_live_counts(console, orders, aws):
    sqs = aws("sqs", ORDERS, REGION)
    dlq_url = sqs.get_queue_url(QueueName=orders.name("orders-dlq"))["QueueUrl"]
    sqs.send_message(QueueUrl=dlq_url, MessageBody="parked by hand")

    counts = rf'<b>{orders.name("orders-dlq")}</b><span class="counts">(.*?)</span></div>'

    def drawn_with_the_parked_message():  # parts loaded together share a reading up to TOPOLOGY_MAX_AGE_S old
        status, _headers, html = console.request("parts/topology")
        assert status == 200
        dlq = re.search(counts, html)
        return html if dlq and '<span class="count alert">1 messages</span>' in dlq.group(1) else None

    html = wait_for(drawn_with_the_parked_message, timeout=TOPOLOGY_MAX_AGE_S + 10, interval=0.5) or \
        console.request("parts/topology")[2]
    for account, region in SCOPES:
        assert f"{account} · {region}" in html
    dlq = re.search(counts, html)
    assert dlq and '<span class="count alert">1 messages</span>' in dlq.group(1), html[:2000]
    assert "Redrive to source queue" in html
    # a cross-account link is drawn as one, with where it goes
    assert re.search(rf'class="cross">→ event bus <a [^>]+>{orders.name("shipping")}</a> <span class="where">'
                     rf'\({SHIPPING}/{REGION}\)', html)
    assert f'{orders.name("orders-archive")}</b><span class="counts"><span class="count">' in html
    sqs.purge_queue(QueueUrl=dlq_url)
