"""The local cloud process: the gateway's ASGI app on 127.0.0.1 with hypercorn, a
graceful stop that drains in-flight work, and the PID file."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from hypercorn.utils import LifespanFailureError

from localcloud.gateway import build_app, framing
from localcloud.settings import load_settings
from localcloud.state import StateUnreadable

logger = logging.getLogger("localcloud")


def serve() -> None:
    settings = load_settings()
    try:
        app = build_app(settings)
    except StateUnreadable as error:
        logger.critical("cannot start: %s", error)
        print(f"local cloud cannot start: {error}", file=sys.stderr, flush=True)
        logging.shutdown()
        os._exit(2)
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"{settings.host}:{settings.port}"]
    config.keep_alive_timeout = 75
    config.loglevel = os.environ.get("LOCALCLOUD_LOG_LEVEL", "WARNING")
    config.accesslog = None
    framing.install()

    shutdown = asyncio.Event()

    async def drained_shutdown() -> None:
        """The server keeps serving while in-flight work finishes (a busy handler still
        calls it); only then does hypercorn stop and persistence save."""
        await shutdown.wait()
        from localcloud import registry

        await asyncio.to_thread(registry.quiesce, float(os.environ.get("LOCALCLOUD_DRAIN_SECONDS", "30")))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, shutdown.set)
        await hypercorn_serve(app, config, shutdown_trigger=drained_shutdown)

    settings.home.mkdir(parents=True, exist_ok=True)
    settings.pid_file.write_text(str(os.getpid()))
    exit_code = 0
    try:
        asyncio.run(main())
        from localcloud import registry

        registry.release_all()
    except LifespanFailureError as error:  # the cause is in the log already
        print(f"local cloud cannot start: {error}", file=sys.stderr, flush=True)
        exit_code = 2
    finally:
        try:
            if settings.pid_file.read_text().strip() == str(os.getpid()):
                settings.pid_file.unlink()
        except FileNotFoundError:
            pass
    # State is saved by now. Work still queued past the drain (threads waiting on a Lambda
    # worker) would hold up interpreter exit for minutes; nothing of it is kept anyway.
    logging.shutdown()
    os._exit(exit_code)
