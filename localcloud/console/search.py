"""Finding transactions by a fragment of their body or by time: the bodies that function
log lines, workflow inputs and dead-letter queues hold in a time window."""

from __future__ import annotations

import re
from dataclasses import dataclass

from localcloud.console import evidence
from localcloud.console.awsapi import Clients, parallel
from localcloud.console.journey import parked_queues
from localcloud.console.topology import Topology

SHA256 = re.compile(r"^[0-9a-f]{64}$")
LIMIT = 50


@dataclass
class Found:
    sha256: str
    body: str
    first_ms: int
    where: str


def find(clients: Clients, topology: Topology, fragment: str, since_ms: int, until_ms: int) -> list[Found]:
    """Transactions seen between ``since_ms`` and ``until_ms`` whose body contains
    ``fragment`` (every one when it is empty), newest first, at most LIMIT."""
    plain = fragment and not any(c in fragment for c in '"\\')
    pattern = f'"{fragment}"' if plain else ""

    def from_function(node) -> list[tuple[int, str, str]]:
        logs = clients("logs", node.account, node.region)
        found = []
        for event in evidence.read_log_events(logs, node.info["log_group"], since_ms, pattern, until_ms):
            record = evidence.json_line(event.get("message", ""))
            found += [(event["timestamp"], body, node.name) for body in evidence.bodies_in(record or {})]
        return found

    def from_workflow(node) -> list[tuple[int, str, str]]:
        logs = clients("logs", node.account, node.region)
        return [(execution.started_ms or since_ms, body, node.name)
                for execution in evidence.executions(logs, node.info["log_group"], since_ms, until_ms)
                for body in evidence.bodies_in({"details": {"input": execution.input}})]

    def from_queue(node) -> list[tuple[int, str, str]]:
        messages = evidence.peek(clients("sqs", node.account, node.region), node.info["url"])
        return [(int((m.get("Attributes") or {}).get("SentTimestamp", since_ms)), m["Body"], f"dead letters of {node.name}")
                for m in messages]

    sources = [(from_function, n) for n in topology.of_kind("function")]
    sources += [(from_workflow, n) for n in topology.of_kind("workflow") if n.info.get("log_group")]
    sources += [(from_queue, n) for n in parked_queues(topology)]

    def read(source) -> list[tuple[int, str, str]]:
        reader, node = source
        try:
            return reader(node)
        except Exception:  # noqa: BLE001 - a log group not created yet holds nothing
            return []

    seen: dict[str, Found] = {}
    for at_ms, body, where in sorted((hit for hits in parallel(read, sources) for hit in hits), key=lambda h: h[0]):
        if since_ms <= at_ms <= until_ms and fragment in body:
            sha = evidence.sha256_hex(body)
            seen.setdefault(sha, Found(sha, body, at_ms, where))
    return sorted(seen.values(), key=lambda f: f.first_ms, reverse=True)[:LIMIT]
