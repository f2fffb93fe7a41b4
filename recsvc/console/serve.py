"""``recsvc console``: the console's HTTP server (uvicorn) on its own port."""

from __future__ import annotations

import asyncio
import logging
import socket

import uvicorn

from recsvc.console.app import build_app
from recsvc.console.settings import ConsoleSettings
from recsvc.observability import configure_logging

__all__ = ["main"]

log = logging.getLogger(__name__)


async def serve(settings: ConsoleSettings) -> None:
    # Bind first, so port 0 gets a real port to print (tests and make serve read it).
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.host, settings.port))
    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(
        build_app(settings), log_config=None, access_log=False, lifespan="on",
        # Behind the load balancer: its address is the client's; no X-Forwarded trust here.
        proxy_headers=False, server_header=False, timeout_graceful_shutdown=10,
    )
    server = uvicorn.Server(config)
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not serving.done():
        await asyncio.sleep(0.02)
    if server.started:
        # Printed (not only logged) so scripts read the address whatever the log level.
        print(f"recsvc console listening on http://{shown}:{port}", flush=True)
    await serving


def main(settings: ConsoleSettings) -> None:
    configure_logging(settings.log_level)
    asyncio.run(serve(settings))
