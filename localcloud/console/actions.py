"""What users otherwise script, done through the AWS APIs as the owning account: redrive a
dead-letter queue (StartMessageMoveTask), replay an archive window (StartReplay), send a
test transaction to an HTTP API (signed as the account, for routes with IAM auth too)."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from localcloud.console.awsapi import Clients, error_text
from localcloud.console.evidence import sha256_hex
from localcloud.console.topology import Node


@dataclass(frozen=True)
class Outcome:
    ok: bool
    message: str
    sha256: str = ""  # a sent transaction's, to open its journey
    sent_ms: int = 0


def redrive(clients: Clients, queue: Node) -> Outcome:
    """Move the dead-letter queue's messages back to the queues they came from."""
    try:
        handle = clients("sqs", queue.account, queue.region).start_message_move_task(SourceArn=queue.arn)["TaskHandle"]
    except Exception as error:  # noqa: BLE001 - the page says why AWS refused
        return Outcome(False, f"redrive of {queue.name} refused: {error_text(error)}")
    return Outcome(True, f"redrive of {queue.name} started (task {handle[:12]}…): its messages go back to their source queues")


def move_tasks(clients: Clients, queue: Node) -> list[dict]:
    try:
        return clients("sqs", queue.account, queue.region).list_message_move_tasks(
            SourceArn=queue.arn, MaxResults=3).get("Results", [])
    except Exception:  # noqa: BLE001 - no task list is not a failure of the page
        return []


def parse_time(text: str) -> datetime:
    """An ISO time or a browser's datetime-local value, UTC unless it says otherwise."""
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def replay(clients: Clients, archive: Node, bus_arn: str, start: str, end: str) -> Outcome:
    """Replay the archive's events of [start, end] onto the bus they were archived from."""
    try:
        begin, finish = parse_time(start), parse_time(end)
    except ValueError:
        return Outcome(False, f"not a time: {start!r} or {end!r} (example: 2026-11-22T10:00)")
    name = f"console-{int(time.time() * 1000)}"
    try:
        clients("events", archive.account, archive.region).start_replay(
            ReplayName=name, EventSourceArn=f"arn:aws:events:{archive.region}:{archive.account}:archive/{archive.name}",
            EventStartTime=begin, EventEndTime=finish, Destination={"Arn": bus_arn})
    except Exception as error:  # noqa: BLE001
        return Outcome(False, f"replay of {archive.name} refused: {error_text(error)}")
    return Outcome(True, f"replay {name} started: events of {begin:%Y-%m-%d %H:%M} to {finish:%Y-%m-%d %H:%M} UTC "
                         f"from {archive.name} go onto their bus again")


def replays(clients: Clients, archive: Node) -> list[dict]:
    try:
        found = clients("events", archive.account, archive.region).list_replays(
            EventSourceArn=f"arn:aws:events:{archive.region}:{archive.account}:archive/{archive.name}").get("Replays", [])
    except Exception:  # noqa: BLE001
        return []
    return sorted(found, key=lambda r: str(r.get("ReplayStartTime", "")), reverse=True)[:3]


def send(endpoint: str, api: Node, body: str, path: str = "/") -> Outcome:
    """POST ``body`` to the HTTP API (its LocalStack path form on this endpoint), signed as
    the API's account so that a route with IAM authorization accepts it too."""
    url = f"{endpoint}/_aws/execute-api/{api.info['id']}{path}"
    data = body.encode("utf-8")
    request = AWSRequest(method="POST", url=url, data=data, headers={"content-type": "application/json"})
    SigV4Auth(Credentials(api.account, "test"), "execute-api", api.region).add_auth(request)
    sent_ms = int(time.time() * 1000)
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, method="POST", headers=dict(request.headers)),
                                    timeout=30) as response:
            status, answer = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, answer = error.code, error.read()
    except OSError as error:
        return Outcome(False, f"POST {url} failed: {error}")
    if status >= 300:
        return Outcome(False, f"POST {url}: HTTP {status} {answer[:300].decode('utf-8', 'replace')}")
    return Outcome(True, f"sent {len(data)} bytes to {api.name}: HTTP {status}", sha256_hex(data), sent_ms)
