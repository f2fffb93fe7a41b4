"""Stopping the server: in-flight calls get the grace, and nothing else holds the exit."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import grpc

__all__ = ["stop_server"]

log = logging.getLogger(__name__)

POLL_S = 0.05
# Looks at an idle server before the rest is cancelled: a call grpc handed over as it
# stopped accepting needs a few loop turns to reach the handlers' count.
IDLE_LOOKS = 3


async def stop_server(
    server: grpc.aio.Server, in_flight: Callable[[], int], grace_s: float
) -> None:
    """Stop accepting calls, give the handlers in flight up to ``grace_s`` to finish, then
    cancel what is left. grpc.aio alone also waits out the whole grace for a call its core
    accepted in the instant the server stopped accepting: never handed to a handler, it
    ends only when cancelled (a 5 s grace held a test's exit for 5.5 s with 0 calls in
    flight). So once no handler has run for IDLE_LOOKS polls, the rest is cancelled."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace_s
    stopping = asyncio.ensure_future(server.stop(grace_s))
    idle = held = 0
    while True:
        await asyncio.wait([stopping], timeout=POLL_S)
        if stopping.done():
            break
        held = in_flight()
        idle = idle + 1 if held == 0 else 0
        if idle >= IDLE_LOOKS:
            log.info("no call in flight: cancelling calls grpc accepted but never handed over")
            await server.stop(None)  # cancels them; the first stop then ends too
            break
    if held and loop.time() >= deadline:
        log.warning("grace of %.1fs over with %d calls in flight: cancelled", grace_s, held)
    await stopping
