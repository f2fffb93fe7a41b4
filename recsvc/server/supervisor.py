"""Process model: serve on the chosen event loop, in one process or several sharing the port."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import socket
from collections.abc import Callable, Coroutine
from typing import Any

from recsvc.observability import configure_logging
from recsvc.settings import Settings

__all__ = ["run", "worker_index"]

# The server's whole life in one process (returns once it has drained).
Serve = Callable[[Settings], Coroutine[Any, Any, None]]

# Set in worker processes (workers > 1): their index, for the metrics port.
_WORKER_ENV = "RECSVC_WORKER_INDEX"


def worker_index() -> int:
    """This process's worker index (0 without a supervisor)."""
    return int(os.environ.get(_WORKER_ENV, "0"))


def run(settings: Settings, serve: Serve) -> None:
    """``serve(settings)`` here, or in settings.workers processes when that is > 1."""
    if settings.workers > 1:
        _supervise(settings, serve)
    else:
        run_on_loop(settings, serve)


def run_on_loop(settings: Settings, serve: Serve) -> None:
    """``serve(settings)`` on the event loop settings.event_loop names (uvloop when
    available)."""
    if settings.event_loop != "asyncio":
        try:
            import uvloop
        except ImportError:
            if settings.event_loop == "uvloop":
                raise
        else:
            uvloop.run(serve(settings))
            return
    asyncio.run(serve(settings))


def _worker(settings: Settings, serve: Serve, index: int) -> None:
    os.environ[_WORKER_ENV] = str(index)
    configure_logging(settings.log_level)
    run_on_loop(settings, serve)


def _supervise(settings: Settings, serve: Serve) -> None:
    """workers > 1: that many server processes on one port (SO_REUSEPORT). Signals are
    forwarded; each worker drains on its own. Port 0 is resolved here first, so all
    workers bind the same port."""
    if settings.port == 0:
        with socket.socket() as s:
            s.bind((settings.host, 0))
            settings = settings.model_copy(update={"port": s.getsockname()[1]})
    # spawn: a forked child would inherit the parent's grpc/asyncio state.
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(settings, serve, n), name=f"recsvc-{n}")
             for n in range(settings.workers)]
    for p in procs:
        p.start()

    def forward(sig: int, _frame: object) -> None:
        for p in procs:
            if p.pid is not None and p.is_alive():
                os.kill(p.pid, sig)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for p in procs:
        p.join()
    failed = [p.exitcode for p in procs if p.exitcode]
    if failed:
        raise SystemExit(f"{len(failed)} worker(s) failed: exit codes {failed}")
