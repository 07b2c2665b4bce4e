"""The one port: health, then every request's body read whole (within its limit), then
the console, the data planes our extensions serve (an HTTP API's routes), then
ministack's ASGI app for the AWS APIs.

Nothing past the door sees a request before its body is complete: a refused or
abandoned request delivers nothing (framing.py guards the bytes on the wire).
"""

from __future__ import annotations

import json
import logging
import os
import time
from urllib.parse import parse_qs

from localcloud.gateway import limits, shapes
from localcloud.settings import Settings, prepare_ministack_environment

HEALTH_PATH = "/_localcloud/health"
logger = logging.getLogger("localcloud")


async def respond(send, status: int, headers: dict, body: bytes, close: bool = False) -> None:
    encoded = [(k.lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in headers.items()]
    encoded.append((b"content-length", str(len(body)).encode()))
    if close:
        encoded.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": encoded})
    await send({"type": "http.response.body", "body": body})


def build_app(settings: Settings):
    """Import ministack (after its environment is set), install extensions, return the ASGI app."""
    prepare_ministack_environment(settings)
    from ministack import app as ministack

    # ministack has read LOG_LEVEL; Lambda workers inherit this environment, and a
    # LOG_LEVEL there would set their Powertools loggers' level too.
    os.environ.pop("LOG_LEVEL", None)

    from localcloud import auth, console, registry, seams, state
    from localcloud.auth import admin

    state.open_storage(settings.home, settings.persist)
    installed = registry.install_all()
    shapes.install()  # outermost around every service handler, the extensions' wrappers included
    console_app = console.start(settings)
    ministack_app = ministack.app
    started = time.monotonic()
    data_plane = registry.data_plane_handlers()
    version = seams.ministack_version()  # reads package metadata from disk: once, not per health check

    async def health(send) -> None:
        body = json.dumps({
            "status": "running",
            "ministack": version,
            "extensions": installed,
            "persistence": settings.persist,
            "iam": auth.mode(),
            "admin_endpoints": "enabled" if admin.enabled() else "disabled (LOCALCLOUD_ADMIN=1 enables them)",
            "uptime_s": round(time.monotonic() - started, 3),
            **registry.health_sections(),
        }).encode()
        await respond(send, 200, {"content-type": "application/json"}, body)

    async def lifespan(scope, receive, send):
        async def send_then_hook(message):
            if message["type"] == "lifespan.startup.complete":
                try:
                    registry.restore_all()
                    registry.start_all()
                except Exception as error:  # hypercorn would serve on without state: refuse to start
                    logger.critical("cannot start: %s", error, exc_info=not isinstance(error, state.StateUnreadable))
                    message = {"type": "lifespan.startup.failed", "message": str(error)}
            await send(message)

        async def receive_then_hook(message_source=receive):
            message = await message_source()
            if message["type"] == "lifespan.shutdown":
                # Our state is saved before ministack's, while its stores are intact.
                registry.save_all()
            return message

        await ministack_app(scope, receive_then_hook, send_then_hook)

    async def whole_body(scope, receive, send):
        """The request's body within its limit, a ``receive`` that replays it; None when
        the request was refused or abandoned (then nothing else sees it)."""
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        declared = limits.declared_length(headers)
        if declared is not None and declared <= limits.WITHIN_EVERY_LIMIT:
            body = await limits.read_body(receive, limits.WITHIN_EVERY_LIMIT)  # most requests: no limit to look up
            return None if body is None else limits.replay(body, receive)
        query = {k: v[0] for k, v in parse_qs(scope.get("query_string", b"").decode("latin-1")).items()}
        limit = limits.limit_for(scope["method"], scope["path"], headers, query)
        try:
            if declared is not None and declared > limit.max_bytes:
                raise limits.TooLarge()
            body = await limits.read_body(receive, limit.max_bytes)
        except limits.TooLarge:
            await respond(send, *limit.refusal(), close=True)
            return None
        return None if body is None else limits.replay(body, receive)

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            await lifespan(scope, receive, send)
            return
        if scope["type"] == "http":
            if scope["path"] == HEALTH_PATH:
                await health(send)
                return
            receive = await whole_body(scope, receive, send)
            if receive is None:
                return
            if await console_app(scope, receive, send):
                return
            if admin.refused(scope["path"], scope.get("query_string", b"")):
                await admin.send_refusal(send)
                return
            for handler in data_plane:
                if await handler(scope, receive, send):
                    return
        await ministack_app(scope, receive, send)

    return app
