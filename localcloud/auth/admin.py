"""Admin endpoints on the local cloud's port are off unless ``LOCALCLOUD_ADMIN=1``.

ministack serves ``/_ministack/*`` (dump queued messages, download function code, change
settings, wipe every resource) to anyone who can reach the port, without credentials; our
own ``/_localcloud/*`` admin endpoints are for test sessions. AWS has nothing of the kind,
so a local cloud refuses them unless a test session enables them. Left open: our health
document, the console (it answers its own routes first, behind a per-start token of its
own), and the capability URLs AWS resources are given (a custom resource's response URL, a
wait condition's signal URL), whose unguessable token is their credential as on AWS.

A function's code URL (GetFunction's ``Code.Location``) is a presigned URL on AWS: whoever
holds it may download the code for 10 minutes, and only then. Here it carries an HMAC of
its path and time under a key of this process (see :func:`sign_code_url`), and is served
while it is valid, admin endpoints on or off.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

OPEN_PATHS = ("/_localcloud/health",)
OPEN_PREFIXES = ("/_ministack/cfn-response/", "/_ministack/cfn-signal/")
GUARDED_PREFIXES = ("/_ministack/", "/_localcloud/")
REFUSAL = ("Admin endpoints are disabled on this local cloud. They are meant for test sessions: start it with "
           "LOCALCLOUD_ADMIN=1 to enable /_ministack/* and /_localcloud/* admin endpoints.")


def enabled() -> bool:
    return os.environ.get("LOCALCLOUD_ADMIN", "0").strip().lower() in ("1", "true", "on", "yes")


CODE_PREFIX = "/_ministack/lambda-code/"
CODE_URL_SECONDS = 600  # GetFunction: "a presigned URL ... valid for 10 minutes"
_CODE_KEY = secrets.token_bytes(32)  # per process: a restart ends every code URL issued before it


def _code_signature(path: str, issued: str) -> str:
    return hmac.new(_CODE_KEY, f"{path}\n{issued}".encode(), hashlib.sha256).hexdigest()


def sign_code_url(url: str) -> str:
    """``url`` (a function code URL) with an X-Amz-Date of now and a signature of its path."""
    parts = urlsplit(url)
    query = {key: values[-1] for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
    query["X-Amz-Date"] = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    query["X-Amz-Expires"] = str(CODE_URL_SECONDS)
    query["X-Amz-Signature"] = _code_signature(parts.path, query["X-Amz-Date"])
    return urlunsplit(parts._replace(query=urlencode(query)))


def _valid_code_url(path: str, query_string: bytes) -> bool:
    query = parse_qs(query_string.decode("latin-1"), keep_blank_values=True)
    issued, signature = (query.get("X-Amz-Date") or [""])[-1], (query.get("X-Amz-Signature") or [""])[-1]
    try:
        age = time.time() - datetime.strptime(issued, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        return False
    return 0 <= age + 5 and age <= CODE_URL_SECONDS and hmac.compare_digest(signature, _code_signature(path, issued))


def refused(path: str, query_string: bytes = b"") -> bool:
    """Whether a request to ``path`` must be refused (an admin endpoint, admin off)."""
    if not path.startswith(GUARDED_PREFIXES) or path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
        return False
    if path.startswith(CODE_PREFIX) and _valid_code_url(path, query_string):
        return False
    return not enabled()


async def send_refusal(send) -> None:
    body = json.dumps({"__type": "AccessDeniedException", "message": REFUSAL}).encode()
    await send({"type": "http.response.start", "status": 403,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
