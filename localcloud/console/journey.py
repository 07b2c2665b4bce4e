"""One transaction's journey, drawn from the topology and the traces it left.

A transaction is its body (identified by the body's SHA-256). Its traces are the log lines
that carry the hash or the body, the workflow executions whose input holds it, and the
dead-letter queues it is parked on. From the nodes with a trace, the journey walks the
topology back to where the transaction entered (an HTTP API, a queue) and forward along
every link it should have taken: a hop with a trace is ``ok`` (or ``failed``), one between
traces ``passed``, one after a failure ``not reached``, one still expected ``waiting``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from localcloud.console import evidence
from localcloud.console.awsapi import Clients, parallel
from localcloud.console.topology import ARCHIVES, DEAD_LETTER, DELIVERS, ENRICHMENT, LOGS, REFERENCES, Node, Topology

OK, FAILED, PASSED, WAITING, NOT_REACHED, DEAD_LETTERED = "ok", "failed", "passed", "waiting", "not reached", "dead-lettered"
SCAN_WINDOW_MS = 3_600_000  # read whole log groups (not only lines with the hash) for recent transactions
DEFAULT_LOOKBACK_MS = 24 * 3_600_000
MAX_HOPS = 60


@dataclass
class Hop:
    node: Node
    depth: int
    via: str = ""
    status: str = WAITING
    at_ms: int | None = None
    text: str = ""


@dataclass
class Journey:
    sha256: str
    body: str | None
    since_ms: int
    hops: list[Hop] = field(default_factory=list)
    stopped: str = ""  # where and why it stopped, when it did
    dead_letters: list[tuple[Node, dict]] = field(default_factory=list)  # (queue, message)

    @property
    def entered_ms(self) -> int | None:
        return min((h.at_ms for h in self.hops if h.at_ms), default=None)

    @property
    def complete(self) -> bool:
        return bool(self.hops) and all(h.status != WAITING for h in self.hops)

    @property
    def ok(self) -> bool:
        return self.complete and all(h.status in (OK, PASSED) for h in self.hops)


@dataclass
class _Traces:
    at: dict[str, list[evidence.Sighting]] = field(default_factory=dict)  # owner node ARN -> lines
    execution: dict[str, evidence.Execution] = field(default_factory=dict)  # workflow ARN -> execution
    parked: dict[str, dict] = field(default_factory=dict)  # dead-letter queue ARN -> message
    events: dict[str, dict] = field(default_factory=dict)  # bus ARN -> the event as it was on that bus


def follow(clients: Clients, topology: Topology, sha: str, body: str | None = None,
           since_ms: int | None = None) -> Journey:
    now = int(time.time() * 1000)
    since_ms = since_ms if since_ms is not None else now - DEFAULT_LOOKBACK_MS
    traces = _collect(clients, topology, sha, body, since_ms, scan=body is not None and now - since_ms <= SCAN_WINDOW_MS)
    body = body if body is not None else _body_from(traces, sha)
    journey = Journey(sha, body, since_ms)
    _learn_events(clients, topology, traces, body)
    _walk(clients, topology, traces, journey)
    return journey


# --- traces ---------------------------------------------------------------------------


def _log_owners(topology: Topology) -> dict[str, str]:
    """Log group ARN -> the node its lines speak for (a function, a pipe, an API; a group
    that is a rule's target speaks for itself)."""
    owners = {}
    for link in topology.links:
        if link.target in topology.nodes and topology.nodes[link.target].kind == "logs":
            source = topology.nodes.get(link.source)
            if link.kind == LOGS and source and source.kind in ("function", "pipe"):
                owners[link.target] = source.arn
            elif link.kind == DELIVERS:
                owners.setdefault(link.target, link.target)
    return owners


def parked_queues(topology: Topology) -> list[Node]:
    """Queues that hold what failed: dead-letter queues, and queues a workflow sends to,
    that nothing consumes and that have no redrive policy of their own."""
    fed_by_failure = {l.target for l in topology.links if l.kind == DEAD_LETTER}
    fed_by_failure |= {l.target for l in topology.links if l.kind == DELIVERS and
                       getattr(topology.nodes.get(l.source), "kind", "") == "workflow"}
    return [n for n in topology.of_kind("queue") if n.arn in fed_by_failure
            and not topology.outgoing(n.arn, DELIVERS) and "max_receive_count" not in n.info]


def _collect(clients: Clients, topology: Topology, sha: str, body: str | None, since_ms: int, scan: bool) -> _Traces:
    traces = _Traces()
    owners = _log_owners(topology)
    workflows = {n.info["log_group"]: n for n in topology.of_kind("workflow") if n.info.get("log_group")}
    groups = [g for g in owners if g not in workflows]

    def read_group(group_arn: str) -> list[evidence.Sighting]:
        node = topology.nodes[group_arn]
        return evidence.sightings(clients("logs", node.account, node.region), group_arn, sha, body, since_ms, scan)

    def read_workflow(group_arn: str) -> evidence.Execution | None:
        node = topology.nodes.get(group_arn) or workflows[group_arn]
        found = evidence.executions(clients("logs", node.account, node.region), group_arn, since_ms)
        return evidence.execution_of(found, sha, body)

    def read_queue(queue: Node) -> dict | None:
        messages = evidence.peek(clients("sqs", queue.account, queue.region), queue.info["url"])
        return next((m for m in messages if evidence.sha256_hex(m["Body"]) == sha
                     or (body is not None and body in evidence.bodies_in({"body": m["Body"]}))), None)

    for group_arn, lines in zip(groups, parallel(read_group, groups)):
        if lines:
            traces.at.setdefault(owners[group_arn], []).extend(lines)
    for group_arn, execution in zip(workflows, parallel(read_workflow, list(workflows))):
        if execution:
            traces.execution[workflows[group_arn].arn] = execution
    queues = parked_queues(topology)
    for queue, message in zip(queues, parallel(read_queue, queues)):
        if message:
            traces.parked[queue.arn] = message
    return traces


def _body_from(traces: _Traces, sha: str) -> str | None:
    candidates = [m["Body"] for m in traces.parked.values()]
    candidates += [b for e in traces.execution.values() for b in evidence.bodies_in({"details": {"input": e.input}})]
    candidates += [b for lines in traces.at.values() for s in lines for b in evidence.bodies_in(s.record or {})]
    return next((b for b in candidates if evidence.sha256_hex(b) == sha), None)


def _learn_events(clients: Clients, topology: Topology, traces: _Traces, body: str | None) -> None:
    """The event as each bus saw it: a workflow's input, a line in a log group the bus's
    rule writes to, or, for the bus a pipe feeds, the event that pipe puts there."""
    for workflow_arn, execution in traces.execution.items():
        for link in topology.incoming(workflow_arn, DELIVERS):
            for bus_link in topology.incoming(link.source, DELIVERS):
                if execution.input.get("detail-type"):
                    traces.events.setdefault(bus_link.source, execution.input)
    for owner, lines in traces.at.items():
        for link in topology.incoming(owner, DELIVERS):
            for bus_link in topology.incoming(link.source, DELIVERS):
                record = next((s.record for s in lines if s.record and "detail-type" in s.record), None)
                if record and topology.nodes[bus_link.source].kind == "bus":
                    traces.events.setdefault(bus_link.source, record)
    for pipe in topology.of_kind("pipe"):
        for link in topology.outgoing(pipe.arn, DELIVERS):
            target = topology.nodes[link.target]
            if target.kind == "bus" and target.arn not in traces.events and body is not None:
                parameters = pipe.info["target_parameters"].get("EventBridgeEventBusParameters") or {}
                traces.events[target.arn] = {
                    "version": "0", "id": "00000000-0000-0000-0000-000000000000", "time": "2026-01-01T00:00:00Z",
                    "source": parameters.get("Source", f"Pipe {pipe.name}"), "account": target.account,
                    "detail-type": parameters.get("DetailType", "Event from aws:sqs"), "region": target.region,
                    "resources": [], "detail": {"body": body}}


def _matches(clients: Clients, rule: Node, event: dict | None) -> bool | None:
    """TestEventPattern's answer for ``rule`` and ``event`` (None when either is unknown)."""
    if not event or not rule.info.get("pattern"):
        return None
    try:
        return clients("events", rule.account, rule.region).test_event_pattern(
            EventPattern=rule.info["pattern"], Event=json.dumps(event))["Result"]
    except Exception:  # noqa: BLE001 - an event this API will not judge: say nothing
        return None


# --- the walk -------------------------------------------------------------------------


def _traced(node: Node, traces: _Traces) -> bool:
    return node.arn in traces.at or node.arn in traces.execution or node.arn in traces.parked


def _roots(topology: Topology, traces: _Traces) -> list[Node]:
    """Where traced transactions entered: the farthest ancestors of every traced node."""
    start = set(traces.at) | set(traces.execution)
    for queue_arn, message in traces.parked.items():
        source = (message.get("Attributes") or {}).get("DeadLetterQueueSourceArn")
        start.add(source if source in topology.nodes else queue_arn)
    roots, seen, frontier = [], set(), [a for a in start if a in topology.nodes]
    while frontier:
        arn = frontier.pop()
        if arn in seen:
            continue
        seen.add(arn)
        # Back along what delivers here; along a reference (a function naming a bus) only to a
        # function that saw the transaction, not to every other app publishing to that bus.
        parents = [l.source for l in topology.incoming(arn, DELIVERS)]
        parents += [l.source for l in topology.incoming(arn, REFERENCES) if _traced(topology.nodes[l.source], traces)]
        if not parents:
            roots.append(topology.nodes[arn])
        frontier.extend(p for p in parents if p not in seen)
    return sorted(roots, key=lambda n: (n.kind != "api", n.arn))


def _below(topology: Topology, arn: str, traces: _Traces, seen: frozenset = frozenset()) -> bool:
    """Whether a node or anything it delivers to holds a trace."""
    if arn in seen:
        return False
    node = topology.nodes[arn]
    if _traced(node, traces):
        return True
    return any(_below(topology, l.target, traces, seen | {arn})
               for l in topology.outgoing(arn, DELIVERS, REFERENCES, DEAD_LETTER))


def _expected_children(clients: Clients, topology: Topology, node: Node, traces: _Traces) -> list[tuple[str, str]]:
    """(child ARN, via) the transaction should go on to from ``node``."""
    children = []
    for link in topology.outgoing(node.arn, DELIVERS, REFERENCES):
        child = topology.nodes[link.target]
        if _below(topology, child.arn, traces):
            children.append((child.arn, link.label))
        elif node.kind == "bus" and child.kind == "rule":
            if _matches(clients, child, traces.events.get(node.arn)):
                children.append((child.arn, ""))
        elif node.kind == "workflow":
            execution = traces.execution.get(node.arn)
            called = execution and any(child.arn in json.dumps(e.get("details", {})) for e in execution.events)
            if child.kind == "function" and (called or execution is None):
                children.append((child.arn, link.label))
        elif link.label == ENRICHMENT:
            continue  # a pipe's enrichment need not log the transaction: a hop only with a trace of its own
        elif node.kind == "function":
            if link.kind == REFERENCES and child.kind == "bus" and not _failed(node, traces):
                children.append((child.arn, link.label))
        else:
            children.append((child.arn, link.label))
    for link in topology.outgoing(node.arn, DEAD_LETTER):
        if link.target in traces.parked:
            children.append((link.target, link.label or "dead-letter queue"))
    return children


def _lines_failed(lines: list[evidence.Sighting]) -> bool:
    """Only error lines: every line it wrote about the transaction reports an error."""
    return bool(lines) and all(s.failed for s in lines if s.record) and any(s.failed for s in lines)


def _failed(node: Node, traces: _Traces) -> bool:
    execution = traces.execution.get(node.arn)
    if execution and execution.outcome and execution.outcome.get("type") != "ExecutionSucceeded":
        return True
    return _lines_failed(traces.at.get(node.arn, []))


def _walk(clients: Clients, topology: Topology, traces: _Traces, journey: Journey) -> None:
    visited: set[str] = set()

    def visit(arn: str, depth: int, via: str, blocked: bool) -> None:
        if arn in visited or len(journey.hops) >= MAX_HOPS:
            return
        visited.add(arn)
        node = topology.nodes[arn]
        hop = Hop(node, depth, via)
        _describe(hop, topology, traces, journey, blocked)
        journey.hops.append(hop)
        stops = hop.status in (FAILED, DEAD_LETTERED)
        for child, label in _expected_children(clients, topology, node, traces):
            visit(child, depth + 1, label, blocked or (stops and child not in traces.parked))

    for root in _roots(topology, traces):
        visit(root.arn, 0, "", False)


def _describe(hop: Hop, topology: Topology, traces: _Traces, journey: Journey, blocked: bool) -> None:
    node = hop.node
    lines = traces.at.get(node.arn, [])
    execution = traces.execution.get(node.arn)
    record = _sqs_record(traces, journey.body)
    if node.arn in traces.parked:
        message = traces.parked[node.arn]
        attributes = message.get("Attributes") or {}
        hop.status, hop.at_ms = DEAD_LETTERED, int(attributes.get("SentTimestamp", 0)) or None
        hop.text = (f"holds it: message {message['MessageId']}, received {attributes.get('ApproximateReceiveCount', '?')} "
                    f"times before it was parked here")
        journey.dead_letters.append((node, message))
        journey.stopped = journey.stopped or f"dead-lettered: on {node.name} ({node.account}/{node.region})"
    elif execution:
        outcome = execution.outcome or {}
        hop.at_ms = execution.started_ms
        ended = int(outcome["event_timestamp"]) if outcome else None
        took = f" in {ended - hop.at_ms} ms" if ended and hop.at_ms else ""
        if outcome.get("type") == "ExecutionSucceeded":
            hop.status, hop.text = OK, f"execution succeeded{took}"
        elif outcome:
            details = outcome.get("details") or {}
            first = next((f.get("details") or {} for f in execution.failures() if f is not outcome), {})
            hop.status = FAILED
            hop.text = (f"execution {outcome['type'][len('Execution'):].lower()}{took}: {details.get('error', '')} "
                        f"{details.get('cause', '')}".strip())
            if first.get("error"):
                hop.text += f" (first error: {first.get('error')}: {str(first.get('cause', ''))[:300]})"
            journey.stopped = journey.stopped or f"{node.name}: {details.get('error', 'failed')}"
        else:
            hop.status, hop.text = WAITING, "execution running"
    elif lines:
        first = min(lines, key=lambda s: s.at_ms)
        hop.at_ms = first.at_ms
        failures = [s for s in lines if s.failed]
        hop.status = FAILED if _lines_failed(lines) else OK
        hop.text = f"{len(lines)} log line(s) in {first.group.split(':log-group:', 1)[1]}"
        if failures:
            error = failures[-1].record or {}
            hop.text += f"; error: {error.get('errorType') or error.get('message', '')} {error.get('errorMessage', '')}".rstrip()
            if hop.status == FAILED:
                journey.stopped = journey.stopped or f"{node.name}: {hop.text}"
    elif _below(topology, node.arn, traces):
        hop.status = PASSED  # no trace of its own; a later hop has one
    else:
        hop.status = NOT_REACHED if blocked else WAITING
        hop.text = "not reached: the transaction stopped before" if blocked else "no trace yet"
    if record and node.kind in ("api", "queue", "pipe"):
        attributes = record.get("attributes") or {}
        stamp = attributes.get("ApproximateFirstReceiveTimestamp" if node.kind == "pipe" else "SentTimestamp")
        hop.at_ms = hop.at_ms or (int(stamp) if stamp else None)
        if node.kind == "queue":
            hop.text = f"message {record.get('messageId')}" + (f"; {hop.text}" if hop.status != PASSED else "")
    if node.kind == "queue" and hop.status != DEAD_LETTERED:
        dead = next((topology.nodes[l.target] for l in topology.outgoing(node.arn, DEAD_LETTER)
                     if l.target in traces.parked), None)
        if dead:
            hop.status = FAILED
            hop.text = f"not delivered: moved to its dead-letter queue {dead.name} after {node.info.get('max_receive_count')} receives"
    if node.kind == "pipe":
        enrichers = [topology.nodes[l.target].name for l in topology.outgoing(node.arn, DELIVERS) if l.label == ENRICHMENT]
        if enrichers:
            hop.text += ("; " if hop.text else "") + f"enriched by {', '.join(enrichers)}"
    if node.kind == "bus":
        archived = [topology.nodes[l.target] for l in topology.outgoing(node.arn, ARCHIVES)]
        if archived:
            hop.text += ("; " if hop.text else "") + "archives: " + ", ".join(f"{a.name} ({a.counts.get('events', 0)} events)" for a in archived)


def _sqs_record(traces: _Traces, body: str | None) -> dict | None:
    """The SQS record the pipe delivered, as a workflow's input holds it."""
    for execution in traces.execution.values():
        detail = execution.input.get("detail")
        if isinstance(detail, dict) and detail.get("eventSource") == "aws:sqs" and detail.get("body") == body:
            return detail
    return None
