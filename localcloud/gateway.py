"""The one port: health, the data planes our extensions serve, then ministack.

Requests flow down from here: our own paths first, then each extension's data plane
(an HTTP API's routes), then ministack's ASGI app for the AWS APIs.
"""

from __future__ import annotations

import json
import os
import time

from localcloud.settings import Settings, prepare_ministack_environment

HEALTH_PATH = "/_localcloud/health"


def build_app(settings: Settings):
    """Import ministack (after its environment is set), install extensions, return the ASGI app."""
    prepare_ministack_environment(settings)
    from ministack import app as ministack

    # ministack has read LOG_LEVEL; Lambda workers inherit this environment, and a
    # LOG_LEVEL there would set their Powertools loggers' level too.
    os.environ.pop("LOG_LEVEL", None)

    from localcloud import auth, console, registry, seams
    from localcloud.auth import admin

    installed = registry.install_all()
    console_app = console.start(settings)
    ministack_app = ministack.app
    started = time.monotonic()
    data_plane = registry.data_plane_handlers()

    async def health(send) -> None:
        body = json.dumps({
            "status": "running",
            "ministack": seams.ministack_version(),
            "extensions": installed,
            "persistence": settings.persist,
            "iam": auth.mode(),
            "admin_endpoints": "enabled" if admin.enabled() else "disabled (LOCALCLOUD_ADMIN=1 enables them)",
            "uptime_s": round(time.monotonic() - started, 3),
        }).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def lifespan(scope, receive, send):
        async def send_then_hook(message):
            if message["type"] == "lifespan.startup.complete":
                registry.restore_all()
                registry.start_all()
            await send(message)

        async def receive_then_hook(message_source=receive):
            message = await message_source()
            if message["type"] == "lifespan.shutdown":
                # Our state is saved before ministack's, while its stores are intact.
                registry.save_all()
            return message

        await ministack_app(scope, receive_then_hook, send_then_hook)

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            await lifespan(scope, receive, send)
            return
        if scope["type"] == "http":
            if scope["path"] == HEALTH_PATH:
                await health(send)
                return
            if await console_app(scope, receive, send):
                return
            if admin.refused(scope["path"]):
                await admin.send_refusal(send)
                return
            for handler in data_plane:
                if await handler(scope, receive, send):
                    return
        await ministack_app(scope, receive, send)

    return app
