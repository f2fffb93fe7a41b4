"""Bare grpc.aio unary servers with recsvc's process model (workers, loop, SO_REUSEPORT).

echo: the request's bytes back. floor (serving/floor.py): one Redis GET, then the same.
A server is named by a module-level handler factory (picklable, for spawned workers):
``await factory()`` returns the handler, ``async (request, context) -> bytes``.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
from collections.abc import Awaitable, Callable
from typing import Any

ECHO = "/bench.Echo/Echo"

Handler = Callable[[bytes, Any], Awaitable[bytes]]
Factory = Callable[[], Awaitable[Handler]]


async def echo_handler() -> Handler:
    async def echo(request: bytes, context: Any) -> bytes:
        return request

    return echo


async def _serve(port: int, reuseport: bool, factory: Factory, name: str) -> None:
    import grpc

    handler = await factory()
    server = grpc.aio.server(options=[("grpc.so_reuseport", 1 if reuseport else 0)])
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(handler)}),))
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print(f"{name} listening on 127.0.0.1:{bound}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.stop(1)


def _worker(port: int, reuseport: bool, loop: str, factory: Factory, name: str) -> None:
    if loop == "uvloop":
        import uvloop

        uvloop.run(_serve(port, reuseport, factory, name))
    else:
        asyncio.run(_serve(port, reuseport, factory, name))


def serve_main(port: int, workers: int, loop: str, factory: Factory = echo_handler,
               name: str = "echo") -> None:
    """Serve until SIGTERM: in this process, or in ``workers`` spawned ones sharing the port."""
    if workers == 1:
        _worker(port, False, loop, factory, name)
        return
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(port, True, loop, factory, name))
             for _ in range(workers)]
    for p in procs:
        p.start()

    def forward(sig: int, _frame: object) -> None:
        for p in procs:
            if p.pid:
                os.kill(p.pid, sig)

    signal.signal(signal.SIGTERM, forward)
    for p in procs:
        p.join()


def echo_main(port: int, workers: int, loop: str) -> None:
    """The echo server until SIGTERM."""
    serve_main(port, workers, loop)
