"""A small closed-loop load generator for failure tests: every call is recorded."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc


@dataclass
class Call:
    started: float
    ended: float
    code: grpc.StatusCode
    response: Any = None


@dataclass
class Load:
    """``calls`` fills while running; ``stop()`` ends the loops after their current call."""

    calls: list[Call] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self, call: Callable[[int], Awaitable[Any]], concurrency: int = 8,
              max_calls: int = 20_000) -> None:
        async def loop(worker: int) -> None:
            n = worker
            while not self._stop.is_set() and len(self.calls) < max_calls:
                t0 = time.monotonic()
                try:
                    response = await call(n)
                    code = grpc.StatusCode.OK
                except grpc.aio.AioRpcError as exc:
                    response, code = None, exc.code()
                    await asyncio.sleep(0.005)  # refused calls return at once: don't spin
                self.calls.append(Call(t0, time.monotonic(), code, response))
                n += concurrency

        self._tasks = [asyncio.create_task(loop(w)) for w in range(concurrency)]

    async def stop(self) -> list[Call]:
        self._stop.set()
        await asyncio.gather(*self._tasks)
        return self.calls

    def between(self, start: float, end: float) -> list[Call]:
        return [c for c in self.calls if c.started >= start and c.ended <= end]
