"""The console's HTTP side, under /_localcloud/: the token gate, the pages, the parts
they load, the actions, the static files. Work that calls the AWS APIs runs on threads,
off the event loop that serves those very calls."""

from __future__ import annotations

import asyncio
import threading
import time
from html import escape
from pathlib import Path
from urllib.parse import parse_qs, urlencode

from localcloud.console import access, actions, pages, search
from localcloud.console.awsapi import clients_for, error_text
from localcloud.console.journey import follow, parked_queues
from localcloud.console.topology import DEAD_LETTER, Node, Topology, count_activity, discover

STATIC = Path(__file__).with_name("static")
CONTENT_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
TOPOLOGY_MAX_AGE_S = 2.0  # parts loaded together share one reading of the topology
ACTIVITY_WINDOW_MS = 3_600_000
MAX_FORM_BYTES = 1 << 20


class Console:
    def __init__(self, endpoint: str, port: int, home: Path, scopes) -> None:
        self.endpoint, self.port, self.home = endpoint, port, home
        self.scopes = scopes  # () -> [(account, region)]
        self.token = access.create_token(home)
        self.key = access.form_key(self.token)
        self.clients = clients_for(endpoint)
        self.static = {p.name: p.read_bytes() for p in STATIC.iterdir() if p.suffix in CONTENT_TYPES}
        self._topology: tuple[float, Topology] | None = None
        self._topology_lock = threading.Lock()

    @property
    def url(self) -> str:
        return access.console_url(self.endpoint, self.token)

    # --- ASGI ---------------------------------------------------------------------------

    async def __call__(self, scope, receive, send) -> bool:
        """Serve a request under /_localcloud/; False when it is not the console's."""
        path = scope["path"]
        if path != access.PREFIX.rstrip("/") and not path.startswith(access.PREFIX):
            return False
        route = path[len(access.PREFIX):] if path.startswith(access.PREFIX) else ""
        method = scope["method"]
        handler = self._routes().get((method, route)) or (
            self._static if method == "GET" and route.startswith("static/") and route[7:] in self.static else None)
        if handler is None:
            return False
        offered = access.token_in_query(scope.get("query_string", b""))
        if offered is not None:
            if not access.matches(offered, self.token):
                await _respond(send, 403, access.refusal_page(403, access.token_path(self.home)))
                return True
            query = {k: v for k, v in parse_qs(scope["query_string"].decode("latin-1")).items() if k != "token"}
            clean = path + ("?" + urlencode(query, doseq=True) if query else "")
            await _respond(send, 303, "", [(b"location", clean.encode()), access.set_cookie_header(self.token, self.port)])
            return True
        cookie = access.cookie_of(scope.get("headers", []), self.port)
        if not access.matches(cookie, self.token):
            status = 403 if cookie else 401
            await _respond(send, status, access.refusal_page(status, access.token_path(self.home)))
            return True
        query = {k: v[0] for k, v in parse_qs(scope.get("query_string", b"").decode("latin-1")).items()}
        try:
            if method == "POST":
                form = await _form(receive)
                if not access.matches(form.get("key"), self.key):
                    await _respond(send, 403, "This form is not from this console's current start: reload the page.")
                    return True
                query.update(form)
            status, body, headers = await handler(route, query)
        except Exception as error:  # noqa: BLE001 - the page shows what failed instead of a blank
            status, body, headers = 500, f'<p class="error">{escape(error_text(error))}</p>', []
        await _respond(send, status, body, headers)
        return True

    def _routes(self) -> dict:
        return {("GET", ""): self._home, ("GET", "journey"): self._journey, ("GET", "search"): self._search,
                ("GET", "parts/topology"): self._topology_part, ("GET", "parts/dead-letters"): self._dead_letters_part,
                ("GET", "parts/journey"): self._journey_part, ("GET", "parts/search"): self._search_part,
                ("POST", "actions/redrive"): self._redrive, ("POST", "actions/replay"): self._replay,
                ("POST", "actions/send"): self._send}

    # --- pages ----------------------------------------------------------------------------

    async def _home(self, _route, query):
        return 200, pages.home(self.endpoint, query.get("notice", "")), []

    async def _journey(self, _route, query):
        since = int(query["since"]) if query.get("since", "").isdigit() else None
        return 200, pages.journey_page(self.endpoint, query.get("sha", "").lower(), since, query.get("notice", "")), []

    async def _search(self, _route, query):
        text = query.get("q", "").strip()
        if search.SHA256.match(text.lower()):
            return 303, "", [(b"location", f"{access.PREFIX}journey?sha={text.lower()}".encode())]
        return 200, pages.search_page(self.endpoint, {k: query[k] for k in ("q", "from", "to") if query.get(k)}), []

    async def _static(self, route, _query):
        name = route[len("static/"):]
        return 200, self.static[name], [(b"content-type", CONTENT_TYPES[Path(name).suffix].encode()),
                                        (b"cache-control", b"private, max-age=300")]

    # --- parts ----------------------------------------------------------------------------

    def _read_topology(self) -> Topology:
        with self._topology_lock:
            if self._topology and time.monotonic() - self._topology[0] < TOPOLOGY_MAX_AGE_S:
                return self._topology[1]
            topology = discover(self.clients, self.scopes())
            count_activity(self.clients, topology, int(time.time() * 1000) - ACTIVITY_WINDOW_MS)
            for archive in topology.of_kind("archive"):
                archive.info["replays"] = actions.replays(self.clients, archive)
            self._topology = (time.monotonic(), topology)
            return topology

    def _redrivable(self, topology: Topology) -> set[str]:
        return {l.target for l in topology.links if l.kind == DEAD_LETTER and
                getattr(topology.nodes.get(l.source), "kind", "") == "queue"}

    async def _topology_part(self, _route, _query):
        topology = await asyncio.to_thread(self._read_topology)
        return 200, pages.topology_part(topology, self.key), []

    async def _dead_letters_part(self, _route, _query):
        def read():
            from localcloud.console import evidence

            topology = self._read_topology()
            redrivable = self._redrivable(topology)
            holding = [q for q in parked_queues(topology) if q.counts.get("messages") or q.counts.get("in flight")]
            return [(q, evidence.peek(self.clients("sqs", q.account, q.region), q.info["url"]), q.arn in redrivable,
                     actions.move_tasks(self.clients, q) if q.arn in redrivable else []) for q in holding]

        return 200, pages.dead_letters_part(await asyncio.to_thread(read), self.key), []

    async def _journey_part(self, _route, query):
        sha = query.get("sha", "").lower()
        if not search.SHA256.match(sha):
            return 400, '<p class="error">A journey needs a SHA-256 (64 hex digits).</p>', []
        since = int(query["since"]) if query.get("since", "").isdigit() else None

        def read():
            topology = self._read_topology()
            return follow(self.clients, topology, sha, since_ms=since), self._redrivable(topology)

        journey, redrivable = await asyncio.to_thread(read)
        return 200, pages.journey_part(journey, self.key, redrivable), []

    async def _search_part(self, _route, query):
        now = int(time.time() * 1000)
        try:
            since = int(actions.parse_time(query["from"]).timestamp() * 1000) if query.get("from") else now - 3_600_000
            until = int(actions.parse_time(query["to"]).timestamp() * 1000) if query.get("to") else now
        except ValueError:
            return 400, '<p class="error">from and to must be times (2026-11-22T10:00).</p>', []
        fragment = query.get("q", "")
        found = await asyncio.to_thread(lambda: search.find(self.clients, self._read_topology(), fragment, since, until))
        return 200, pages.search_part(found, fragment, since, until), []

    # --- actions --------------------------------------------------------------------------

    def _after(self, outcome: actions.Outcome, back: str) -> tuple[int, str, list]:
        target = back if back.startswith(("journey?", "search?")) or back == "" else ""
        joiner = "&" if "?" in target else "?"
        location = f"{access.PREFIX}{target}{joiner}{urlencode({'notice': outcome.message})}"
        self._topology = None  # what the action changed shows on the next reading
        return 303, "", [(b"location", location.encode())]

    async def _redrive(self, _route, form):
        queue = _node_of_arn(form.get("queue", ""), "queue")
        outcome = await asyncio.to_thread(actions.redrive, self.clients, queue)
        return self._after(outcome, form.get("back", ""))

    async def _replay(self, _route, form):
        archive = _node_of_arn(form.get("archive", ""), "archive")
        outcome = await asyncio.to_thread(actions.replay, self.clients, archive, form.get("bus", ""),
                                          form.get("from", ""), form.get("to", ""))
        return self._after(outcome, form.get("back", ""))

    async def _send(self, _route, form):
        topology = await asyncio.to_thread(self._read_topology)
        api = topology.nodes.get(form.get("api", ""))
        if api is None or api.kind != "api":
            return self._after(actions.Outcome(False, "no such HTTP API"), "")
        outcome = await asyncio.to_thread(actions.send, self.endpoint, api, form.get("body", ""))
        if not outcome.ok:
            return self._after(outcome, "")
        return self._after(outcome, f"journey?sha={outcome.sha256}&since={outcome.sent_ms - 1000}")


def _node_of_arn(arn: str, kind: str) -> Node:
    """A queue or archive named by its ARN: arn:aws:<service>:<region>:<account>:<name>."""
    parts = arn.split(":", 5)
    if len(parts) != 6:
        raise ValueError(f"not an ARN: {arn!r}")
    return Node(arn, kind, parts[5].split("/", 1)[-1], parts[4], parts[3])


async def _form(receive) -> dict[str, str]:
    chunks, size = [], 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            raise ValueError("form too large")
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return {k: v[0] for k, v in parse_qs(b"".join(chunks).decode("utf-8"), keep_blank_values=True).items()}


async def _respond(send, status: int, body: str | bytes, headers: list | None = None) -> None:
    data = body.encode("utf-8") if isinstance(body, str) else body
    headers = list(headers or [])
    if not any(name == b"content-type" for name, _ in headers):
        headers.append((b"content-type", b"text/html; charset=utf-8"))
    headers += [(b"content-length", str(len(data)).encode()), (b"cache-control", b"no-store")] \
        if not any(name == b"cache-control" for name, _ in headers) else [(b"content-length", str(len(data)).encode())]
    headers += [(b"x-frame-options", b"DENY"), (b"referrer-policy", b"no-referrer"),
                (b"content-security-policy", b"default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self'; frame-ancestors 'none'")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
