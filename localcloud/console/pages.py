"""The console's HTML, rendered on the server: the page around everything, and the parts
the page loads into itself (topology, dead letters, a journey, search results)."""

from __future__ import annotations

import hashlib
import time
from html import escape
from urllib.parse import urlencode

from localcloud.console.access import PREFIX
from localcloud.console.journey import Journey
from localcloud.console.search import Found
from localcloud.console.topology import ARCHIVES, DEAD_LETTER, DELIVERS, LOGS, REFERENCES, Node, Topology

KIND_NAMES = {"api": "HTTP API", "queue": "SQS queue", "pipe": "pipe", "bus": "event bus", "rule": "rule",
              "workflow": "state machine", "function": "function", "archive": "archive", "logs": "log group"}
SCOPE_ORDER = ("api", "queue", "pipe", "bus", "workflow", "function", "logs")
DEFAULT_BODY = '{"amount": 42.5, "currency": "EUR", "customer": {"name": "Ada Lovelace", "email": "ada@example.com"}}'


def anchor(arn: str) -> str:
    return "n-" + hashlib.sha1(arn.encode()).hexdigest()[:12]


def utc(ms: int | None) -> str:
    if not ms:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d} UTC"


def layout(title: str, content: str, endpoint: str, notice: str = "", query: str = "") -> str:
    message = f'<p class="notice">{escape(notice)}</p>' if notice else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} · local cloud</title>
<link rel="stylesheet" href="{PREFIX}static/console.css"><script defer src="{PREFIX}static/console.js"></script></head>
<body><header><a class="brand" href="{PREFIX}">local cloud</a><span class="endpoint">{escape(endpoint)}</span>
<form class="search" action="{PREFIX}search" method="get">
<input name="q" value="{escape(query)}" placeholder="SHA-256, or a piece of the body" aria-label="search">
<input name="from" type="datetime-local" step="1" aria-label="from (UTC)" title="from (UTC)">
<input name="to" type="datetime-local" step="1" aria-label="to (UTC)" title="to (UTC)">
<button>Find</button></form></header>
<main>{message}{content}</main></body></html>"""


def part(name: str, source: str, waiting: str, every_ms: int = 0, until_complete: bool = False) -> str:
    """A section the page fills from ``source`` (an HTML fragment) once painted."""
    extra = f' data-every="{every_ms}"' if every_ms else ""
    extra += " data-until-complete" if until_complete else ""
    return f'<section class="part" id="{name}" data-src="{escape(source)}"{extra}><p class="loading">{escape(waiting)}</p></section>'


def home(endpoint: str, notice: str = "") -> str:
    return layout("console", part("dead-letters", f"{PREFIX}parts/dead-letters", "Looking at dead-letter queues…", 5000)
                  + part("topology", f"{PREFIX}parts/topology", "Reading what is deployed…", 5000), endpoint, notice)


def journey_page(endpoint: str, sha: str, since_ms: int | None, notice: str = "") -> str:
    query = urlencode({"sha": sha, **({"since": since_ms} if since_ms else {})})
    return layout(f"journey {sha[:12]}", part("journey", f"{PREFIX}parts/journey?{query}", "Following the transaction…",
                                             1000, until_complete=True), endpoint, notice, sha)


def search_page(endpoint: str, query: dict[str, str]) -> str:
    return layout("search", part("results", f"{PREFIX}parts/search?{urlencode(query)}", "Searching…"), endpoint,
                  query=query.get("q", ""))


# --- fragments --------------------------------------------------------------------------


def _where(node: Node) -> str:
    return f"{node.account}/{node.region}"


def _name(node: Node) -> str:
    return f'<a href="{PREFIX}#{anchor(node.arn)}">{escape(node.name)}</a>'


def _counts(node: Node, dead_letters: bool = False) -> str:
    alerting = ("errors", "failed", "messages") if dead_letters else ("errors", "failed")
    shown = [f'<span class="count{" alert" if k in alerting and v else ""}">{escape(str(v))} {escape(k)}</span>'
             for k, v in node.counts.items() if k != "bytes"]
    return f'<span class="counts">{"".join(shown)}</span>' if shown else ""


def _form(action: str, key: str, fields: dict[str, str], button: str, extra: str = "") -> str:
    hidden = "".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in fields.items())
    return (f'<form class="action" method="post" action="{PREFIX}actions/{action}">{hidden}'
            f'<input type="hidden" name="key" value="{escape(key)}">{extra}<button>{escape(button)}</button></form>')


def _links(node: Node, topology: Topology) -> str:
    items = []
    for link in topology.outgoing(node.arn, DELIVERS, REFERENCES, DEAD_LETTER, LOGS):
        target = topology.nodes[link.target]
        if node.kind == "bus" and target.kind == "rule":
            continue
        cross = (target.account, target.region) != (node.account, node.region)
        arrow = {DEAD_LETTER: "⇢ dead letters", LOGS: "✎ logs", REFERENCES: "⋯ names"}.get(link.kind, "→")
        label = f' <span class="via">{escape(link.label)}</span>' if link.label else ""
        where = f' <span class="where">({_where(target)})</span>' if cross else ""
        items.append(f'<li class="{"cross" if cross else ""}">{arrow} {KIND_NAMES[target.kind]} '
                     f'{_name(target)}{where}{label}</li>')
    return f'<ul class="links">{"".join(items)}</ul>' if items else ""


def _node(node: Node, topology: Topology, key: str) -> str:
    body, dead_letters = _links(node, topology), False
    if node.kind == "api":
        body += _form("send", key, {"api": node.arn}, "Send a test transaction",
                      f'<textarea name="body" rows="2" aria-label="body">{escape(DEFAULT_BODY)}</textarea>')
    if node.kind == "queue":
        sources = [topology.nodes[l.source] for l in topology.incoming(node.arn, DEAD_LETTER) if
                   topology.nodes[l.source].kind == "queue"]
        if sources:
            dead_letters = True
            body += f'<p class="note">dead-letter queue of {", ".join(_name(s) for s in sources)}</p>'
            if node.counts.get("messages"):
                body += _form("redrive", key, {"queue": node.arn}, "Redrive to source queue")
    if node.kind == "pipe" and node.info.get("state"):
        body += f'<p class="note">{escape(node.info["state"])} {escape(node.info.get("reason") or "")}</p>'
    if node.kind == "workflow":
        body += f'<p class="note">{escape(node.info.get("type") or "")}, logging {escape(node.info.get("log_level") or "off")}</p>'
    if node.kind == "bus":
        body += _rules(node, topology) + _archives(node, topology, key)
    return (f'<div class="node {node.kind}" id="{anchor(node.arn)}"><div class="title"><span class="kind">'
            f'{KIND_NAMES[node.kind]}</span> <b>{escape(node.name)}</b>{_counts(node, dead_letters)}</div>{body}</div>')


def _rules(bus: Node, topology: Topology) -> str:
    rows = []
    for link in topology.outgoing(bus.arn, DELIVERS):
        rule = topology.nodes[link.target]
        pattern = rule.info.get("pattern") or ""
        rows.append(f'<li><span class="kind">rule</span> {escape(rule.name)} <code>{escape(pattern[:160])}</code>'
                    f'{_links(rule, topology)}</li>')
    return f'<ul class="rules">{"".join(rows)}</ul>' if rows else ""


def _archives(bus: Node, topology: Topology, key: str) -> str:
    rows = []
    for link in topology.outgoing(bus.arn, ARCHIVES):
        archive = topology.nodes[link.target]
        replayed = "".join(f'<li>{escape(r.get("ReplayName", ""))}: {escape(r.get("State", ""))}</li>'
                           for r in archive.info.get("replays", []))
        window = ('<input name="from" type="datetime-local" step="1" required aria-label="replay from (UTC)">'
                  '<input name="to" type="datetime-local" step="1" required aria-label="replay to (UTC)">')
        rows.append(f'<div class="archive" id="{anchor(archive.arn)}"><span class="kind">archive</span> '
                    f'<b>{escape(archive.name)}</b>{_counts(archive)}'
                    f'{_form("replay", key, {"archive": archive.arn, "bus": bus.arn}, "Replay window (UTC)", window)}'
                    f'{"<ul class=replays>" + replayed + "</ul>" if replayed else ""}</div>')
    return "".join(rows)


def topology_part(topology: Topology, key: str) -> str:
    shown_logs = {l.target for l in topology.links if l.kind in (LOGS, DELIVERS)}
    sections = []
    for account, region in topology.scopes:
        nodes = [n for kind in SCOPE_ORDER for n in topology.of_kind(kind) if (n.account, n.region) == (account, region)
                 and (kind != "logs" or n.arn in shown_logs)]
        if nodes:
            sections.append(f'<section class="scope"><h2>{account} · {region}</h2>'
                            + "".join(_node(n, topology, key) for n in nodes) + "</section>")
    errors = "".join(f"<li>{escape(e)}</li>" for e in topology.errors)
    warning = f'<ul class="errors">{errors}</ul>' if errors else ""
    if not sections:
        return warning + '<p class="empty">Nothing deployed yet: run <code>make deploy</code>.</p>'
    return warning + f'<div class="scopes">{"".join(sections)}</div>'


def dead_letters_part(parked: list[tuple[Node, list[dict], bool, list[dict]]], key: str) -> str:
    """``parked``: (queue, messages, redrivable, recent move tasks) of every queue holding some."""
    if not parked:
        return '<p class="calm">No dead letters: every dead-letter queue is empty.</p>'
    blocks = []
    for queue, messages, redrivable, tasks in parked:
        rows = "".join(
            f'<tr><td>{utc(int((m.get("Attributes") or {}).get("SentTimestamp", 0)))}</td>'
            f'<td><a href="{PREFIX}journey?sha={_sha(m["Body"])}">{_sha(m["Body"])[:16]}…</a></td>'
            f'<td><code>{escape(m["Body"][:140])}</code></td>'
            f'<td>{escape((m.get("Attributes") or {}).get("ApproximateReceiveCount", ""))}</td></tr>' for m in messages)
        action = _form("redrive", key, {"queue": queue.arn}, "Redrive to source queue") if redrivable else (
            '<p class="note">Not the dead-letter queue of another queue, so SQS cannot redrive it '
            '(StartMessageMoveTask refuses); send a body again from its HTTP API.</p>')
        shown_tasks = "".join(f'<li>redrive {escape(t.get("Status", ""))}: {t.get("ApproximateNumberOfMessagesMoved", 0)}'
                              f' of {t.get("ApproximateNumberOfMessagesToMove", 0)} moved</li>' for t in tasks)
        blocks.append(f'<div class="dead" id="dead-{anchor(queue.arn)}"><h2>Dead letters on {escape(queue.name)} '
                      f'<span class="where">{_where(queue)}</span> <span class="count alert">{queue.counts.get("messages", 0)}'
                      f' messages</span></h2>{action}{"<ul class=tasks>" + shown_tasks + "</ul>" if shown_tasks else ""}'
                      f'<table><tr><th>sent</th><th>SHA-256</th><th>body</th><th>receives</th></tr>{rows}</table></div>')
    return "".join(blocks)


def _sha(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


def journey_part(journey: Journey, key: str, redrivable: set[str]) -> str:
    start = journey.entered_ms
    end = max((h.at_ms for h in journey.hops if h.at_ms), default=start)
    span = max(1, (end or 0) - (start or 0))
    state = "ok" if journey.ok else "unknown" if not journey.hops else "stopped" if journey.stopped else "waiting"
    summary = {"ok": "Every hop passed.", "stopped": f"Stopped: {journey.stopped}",
               "unknown": "No trace of this transaction in any log group, workflow log or dead-letter queue "
                          f"since {utc(journey.since_ms)}.",
               "waiting": "On its way (or stopped without a trace): hops marked waiting have no trace yet."}[state]
    rows, last_at = [], {}
    for hop in journey.hops:
        last_at[hop.depth] = hop.at_ms or last_at.get(hop.depth - 1)
        parent_at = next((last_at[d] for d in range(hop.depth - 1, -1, -1) if last_at.get(d)), None)
        after = f"+{hop.at_ms - start} ms" if hop.at_ms and start else ""
        took = f"{hop.at_ms - parent_at} ms after the hop before" if hop.at_ms and parent_at else ""
        bar = (f'<span class="bar"><i style="left:{(hop.at_ms - start) * 100 // span}%"></i></span>'
               if hop.at_ms and start else '<span class="bar"></span>')
        via = f' <span class="via">via {escape(hop.via)}</span>' if hop.via else ""
        rows.append(f'<li class="hop {hop.status.replace(" ", "-")}" style="--depth:{hop.depth}" data-kind="{hop.node.kind}">'
                    f'<span class="badge">{escape(hop.status)}</span><span class="kind">{KIND_NAMES[hop.node.kind]}</span>'
                    f'<span class="name"><b>{_name(hop.node)}</b> <span class="where">{_where(hop.node)}</span>{via}</span>'
                    f'<span class="at" title="{utc(hop.at_ms)} {took}">{after}</span>{bar}'
                    f'<div class="text">{escape(hop.text)}</div></li>')
    dead = "".join(
        f'<div class="dead-entry"><p>In dead-letter queue <b>{escape(q.name)}</b> ({_where(q)}): message '
        f'{escape(m["MessageId"])}, sent {utc(int((m.get("Attributes") or {}).get("SentTimestamp", 0)))}.</p>'
        + (_form("redrive", key, {"queue": q.arn, "back": f"journey?sha={journey.sha256}"}, "Redrive to source queue")
           if q.arn in redrivable else "") + "</div>" for q, m in journey.dead_letters)
    body = (f'<details><summary>body ({len(journey.body.encode())} bytes)</summary><pre>{escape(journey.body)}</pre></details>'
            if journey.body is not None else "")
    return (f'<div class="journey {state}" data-complete="{"true" if journey.complete or journey.dead_letters else "false"}">'
            f'<h1>Transaction <code title="{journey.sha256}">{journey.sha256[:16]}…</code></h1>'
            f'<p class="summary">{escape(summary)}</p>{dead}{body}<ol class="hops">{"".join(rows)}</ol>'
            f'<p class="note">Entered {utc(start) or "at an unknown time"}; traces read since {utc(journey.since_ms)}. '
            f'<i>ok</i>: the hop left a trace; <i>passed</i>: no trace of its own, a later hop has one.</p></div>')


def search_part(found: list[Found], fragment: str, since_ms: int, until_ms: int) -> str:
    what = f"containing “{escape(fragment)}”" if fragment else "of any body"
    if not found:
        return f'<p class="empty">No transaction {what} between {utc(since_ms)} and {utc(until_ms)}.</p>'
    rows = "".join(f'<tr><td>{utc(f.first_ms)}</td><td><a href="{PREFIX}journey?sha={f.sha256}&amp;since={f.first_ms - 60000}">'
                   f'{f.sha256[:16]}…</a></td><td><code>{escape(f.body[:160])}</code></td><td>{escape(f.where)}</td></tr>'
                   for f in found)
    return (f'<h1>{len(found)} transaction(s) {what}</h1><p class="note">{utc(since_ms)} to {utc(until_ms)}</p>'
            f'<table class="found"><tr><th>first seen</th><th>SHA-256</th><th>body</th><th>seen in</th></tr>{rows}</table>')
