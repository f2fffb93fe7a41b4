"""A bare grpc.aio unary echo server with recsvc's process model (workers, loop, SO_REUSEPORT)."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
from typing import Any

ECHO = "/bench.Echo/Echo"


async def _echo_serve(port: int, reuseport: bool) -> None:
    import grpc

    async def echo(request: bytes, context: Any) -> bytes:
        return request

    server = grpc.aio.server(options=[("grpc.so_reuseport", 1 if reuseport else 0)])
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(echo)}),))
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print(f"echo listening on 127.0.0.1:{bound}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.stop(1)


def _echo_worker(port: int, reuseport: bool, loop: str) -> None:
    if loop == "uvloop":
        import uvloop

        uvloop.run(_echo_serve(port, reuseport))
    else:
        asyncio.run(_echo_serve(port, reuseport))


def echo_main(port: int, workers: int, loop: str) -> None:
    """Serve until SIGTERM: in this process, or in ``workers`` spawned ones sharing the port."""
    if workers == 1:
        _echo_worker(port, False, loop)
        return
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_echo_worker, args=(port, True, loop)) for _ in range(workers)]
    for p in procs:
        p.start()

    def forward(sig: int, _frame: object) -> None:
        for p in procs:
            if p.pid:
                os.kill(p.pid, sig)

    signal.signal(signal.SIGTERM, forward)
    for p in procs:
        p.join()
