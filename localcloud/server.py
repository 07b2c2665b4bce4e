"""The local cloud process: ministack in-process, our extensions installed, one port.

Runs ministack's ASGI app behind a thin gateway (ours) on 127.0.0.1 with hypercorn.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import time

from localcloud.settings import Settings, load_settings, prepare_ministack_environment

logger = logging.getLogger("localcloud")

HEALTH_PATH = "/_localcloud/health"


def build_app(settings: Settings):
    """Import ministack (after its environment is set), install extensions, return the ASGI app."""
    prepare_ministack_environment(settings)
    from ministack import app as ministack

    # ministack has read LOG_LEVEL; Lambda workers inherit this environment, and a
    # LOG_LEVEL there would set their Powertools loggers' level too.
    os.environ.pop("LOG_LEVEL", None)

    from localcloud import extensions, seams

    installed = extensions.install_all()
    ministack_app = ministack.app
    started = time.monotonic()
    data_plane = extensions.data_plane_handlers()

    async def health(send) -> None:
        body = json.dumps({
            "status": "running",
            "ministack": seams.ministack_version(),
            "extensions": installed,
            "persistence": settings.persist,
            "uptime_s": round(time.monotonic() - started, 3),
        }).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def lifespan(scope, receive, send):
        async def send_then_hook(message):
            if message["type"] == "lifespan.startup.complete":
                extensions.restore_all()
                extensions.start_all()
            await send(message)

        async def receive_then_hook(message_source=receive):
            message = await message_source()
            if message["type"] == "lifespan.shutdown":
                # Our state is saved before ministack's, while its stores are intact.
                extensions.save_all()
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
            for handler in data_plane:
                if await handler(scope, receive, send):
                    return
        await ministack_app(scope, receive, send)

    return app


def serve() -> None:
    settings = load_settings()
    app = build_app(settings)
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"{settings.host}:{settings.port}"]
    config.keep_alive_timeout = 75
    config.loglevel = os.environ.get("LOCALCLOUD_LOG_LEVEL", "WARNING")
    config.accesslog = None

    shutdown = asyncio.Event()

    async def drained_shutdown() -> None:
        """The server keeps serving while in-flight work finishes (a busy handler still
        calls it); only then does hypercorn stop and persistence save."""
        await shutdown.wait()
        from localcloud import extensions

        await asyncio.to_thread(extensions.quiesce, float(os.environ.get("LOCALCLOUD_DRAIN_SECONDS", "30")))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, shutdown.set)
        await hypercorn_serve(app, config, shutdown_trigger=drained_shutdown)

    settings.home.mkdir(parents=True, exist_ok=True)
    settings.pid_file.write_text(str(os.getpid()))
    try:
        asyncio.run(main())
    finally:
        try:
            if settings.pid_file.read_text().strip() == str(os.getpid()):
                settings.pid_file.unlink()
        except FileNotFoundError:
            pass
    # State is saved by now. Work still queued past the drain (threads waiting on a Lambda
    # worker) would hold up interpreter exit for minutes; nothing of it is kept anyway.
    logging.shutdown()
    os._exit(0)
