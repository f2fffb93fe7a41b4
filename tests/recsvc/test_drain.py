"""stop_server on a real grpc.aio server: calls in flight finish within the grace, the
stop ends when they do, and a call still running when the grace is over is cancelled."""

from __future__ import annotations

import asyncio
import logging
import time

import grpc
import pytest

from recsvc.server.drain import stop_server

pytestmark = pytest.mark.timeout(60)

METHOD = "/drain.Test/Wait"


class WaitingServer:
    """A server whose one method waits for as many seconds as the request says."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.started = asyncio.Event()
        self.ended: list[str] = []  # each handler's end: "answered" or "cancelled"
        self.server = grpc.aio.server()
        handler = grpc.unary_unary_rpc_method_handler(self.wait)
        self.server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler("drain.Test", {"Wait": handler}),)
        )
        self.port = self.server.add_insecure_port("127.0.0.1:0")

    async def wait(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        self.in_flight += 1
        self.started.set()
        try:
            await asyncio.sleep(float(request.decode()))
        except asyncio.CancelledError:
            self.ended.append("cancelled")
            raise
        else:
            self.ended.append("answered")
            return b"done"
        finally:
            self.in_flight -= 1


async def call_then_stop(seconds: float, grace_s: float) -> tuple[object, list[str], float]:
    """(the call's answer or status code, how the handler ended once the stop returned,
    how long the stop took)."""
    waiting = WaitingServer()
    await waiting.server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{waiting.port}") as channel:
        call = channel.unary_unary(METHOD)(str(seconds).encode(), timeout=30)
        await asyncio.wait_for(waiting.started.wait(), 10)
        began = time.monotonic()

        async def answer() -> object:
            try:
                return await call
            except grpc.aio.AioRpcError as exc:
                return exc.code()

        answered = asyncio.ensure_future(answer())
        await stop_server(waiting.server, lambda: waiting.in_flight, grace_s)
        stopped = time.monotonic() - began
        ended = list(waiting.ended)
        result = await answered
    return result, ended, stopped


async def test_a_call_in_flight_finishes_and_the_stop_ends_with_it() -> None:
    result, ended, stopped = await call_then_stop(seconds=1.0, grace_s=20.0)
    assert result == b"done"
    # The stop waited for the call, and not for the rest of the grace.
    assert ended == ["answered"]
    assert stopped < 10.0


async def test_a_call_past_the_grace_is_cancelled_and_named_in_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="recsvc.server.drain"):
        result, ended, stopped = await call_then_stop(seconds=30.0, grace_s=0.5)
    # grpc tells the caller the server went away; the handler itself was cancelled.
    assert result == grpc.StatusCode.UNAVAILABLE
    assert ended == ["cancelled"]
    assert stopped < 20.0
    assert "over with 1 calls in flight: cancelled" in caplog.text


async def test_an_idle_server_stops_at_once() -> None:
    waiting = WaitingServer()
    await waiting.server.start()
    began = time.monotonic()
    await stop_server(waiting.server, lambda: waiting.in_flight, 20.0)
    assert time.monotonic() - began < 10.0
