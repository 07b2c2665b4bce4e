"""Admin endpoints on the local cloud's port are off unless ``LOCALCLOUD_ADMIN=1``.

ministack serves ``/_ministack/*`` (dump queued messages, download function code, change
settings, wipe every resource) to anyone who can reach the port, without credentials; our
own ``/_localcloud/*`` admin endpoints are for test sessions. AWS has nothing of the kind,
so a local cloud refuses them unless a test session enables them. Left open: our health
document, the console (it answers its own routes first, behind a per-start token of its
own), and the capability URLs AWS resources are given (a custom resource's response URL, a
wait condition's signal URL), whose unguessable token is their credential as on AWS.
"""

from __future__ import annotations

import json
import os

OPEN_PATHS = ("/_localcloud/health",)
OPEN_PREFIXES = ("/_ministack/cfn-response/", "/_ministack/cfn-signal/")
GUARDED_PREFIXES = ("/_ministack/", "/_localcloud/")
REFUSAL = ("Admin endpoints are disabled on this local cloud. They are meant for test sessions: start it with "
           "LOCALCLOUD_ADMIN=1 to enable /_ministack/* and /_localcloud/* admin endpoints.")


def enabled() -> bool:
    return os.environ.get("LOCALCLOUD_ADMIN", "0").strip().lower() in ("1", "true", "on", "yes")


def refused(path: str) -> bool:
    """Whether a request to ``path`` must be refused (an admin endpoint, admin off)."""
    if not path.startswith(GUARDED_PREFIXES) or path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
        return False
    return not enabled()


async def send_refusal(send) -> None:
    body = json.dumps({"__type": "AccessDeniedException", "message": REFUSAL}).encode()
    await send({"type": "http.response.start", "status": 403,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
