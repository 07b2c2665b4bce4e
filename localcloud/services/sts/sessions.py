"""An admin endpoint for test sessions: expire an STS session now.

STS issues sessions for at least 900 seconds, so a test of ExpiredToken would wait a
quarter of an hour; ``POST /_localcloud/sts/expire-session`` with ``{"AccessKeyId": …}``
moves that session's expiry into the past, and the next request signed with it meets the
local cloud's real expiry check. Admin endpoints answer only with ``LOCALCLOUD_ADMIN=1``.
"""

from __future__ import annotations

import json

from localcloud import seams
from localcloud.auth import admin
from localcloud.extension import Extension

PATH = "/_localcloud/sts/expire-session"


async def _respond(send, status: int, document: dict) -> bool:
    body = json.dumps(document).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
    return True


async def serve(scope, receive, send) -> bool:
    if scope.get("type") != "http" or scope.get("path") != PATH or not admin.enabled():
        return False
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    try:
        key = json.loads(b"".join(chunks) or b"{}").get("AccessKeyId", "")
    except (ValueError, AttributeError):
        return await _respond(send, 400, {"message": "body must be {\"AccessKeyId\": \"ASIA…\"}"})
    if scope.get("method") != "POST" or not seams.iam.expire_session(key):
        return await _respond(send, 404, {"message": f"no STS session with access key {key!r}"})
    return await _respond(send, 200, {"AccessKeyId": key, "expired": True})


EXTENSION = Extension(name="sts_session_admin", needed=lambda: True, install=lambda: None, data_plane=serve)
