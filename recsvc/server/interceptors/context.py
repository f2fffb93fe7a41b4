"""Per-call request context: request id, access-log line, calls in flight, per-call metrics."""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import grpc
from grpc.aio import AbortError

from recsvc import observability
from recsvc.metrics import Metrics
from recsvc.server.interceptors.handlers import WrappedHandlers, find, rewrap

if TYPE_CHECKING:
    from recsvc.server.interceptors.handlers import Context, Handler, Stream, Unary

__all__ = ["RequestContext"]

access_log = logging.getLogger("recsvc.access")

REQUEST_ID_HEADER = "x-request-id"
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# New request ids: a random prefix per process and a counter (unique without a
# urandom call per request).
_ID_PREFIX = uuid.uuid4().hex[:16]
_ID_COUNTER = itertools.count()


class RequestContext:
    """Request id (caller's x-request-id if sane, else a new one) bound to every log line
    and echoed: a caller's id in the initial metadata, a new one in the trailing metadata
    (sending initial metadata on its own costs a write per call, ~15% of a cached
    Recommend); one access-log line per call with method, status, latency and the
    handler's annotations; counts calls in flight and feeds the per-call metrics.
    Outermost layer: it sees the final status of every call."""

    def __init__(self, metrics: Metrics, *, access_log: bool = True) -> None:
        self.in_flight = 0
        self.metrics = metrics
        self.access_log = access_log
        self._wrapped = WrappedHandlers()

    def wrap(self, details: grpc.HandlerCallDetails, handler: Handler) -> Handler:
        method = details.method
        return self._wrapped.get(method, handler, lambda: self._wrap(method, handler))

    def _wrap(self, method: str, handler: Handler) -> Handler:
        def unary(behavior: Unary) -> Unary:
            # The hot path of every cached Recommend: one flat coroutine, no context
            # managers (each generator-based one costs more than the memo hit it wraps).
            async def wrapper(request: Any, context: Context) -> Any:
                request_id, given = _request_id(context)
                record = observability.CallRecord()
                tokens = observability.bind(request_id, record)
                # Counted before the first await: a shutdown waits for what this counts.
                self.in_flight += 1
                started = time.perf_counter()
                status = "OK"
                try:
                    if given:
                        await context.send_initial_metadata(((REQUEST_ID_HEADER, request_id),))
                    return await behavior(request, context)
                except BaseException as exc:
                    status = _status_of(exc, context)
                    raise
                finally:
                    self.in_flight -= 1
                    self._finish(method, status, time.perf_counter() - started, record)
                    observability.unbind(tokens)

            return wrapper

        def stream(behavior: Stream) -> Stream:
            async def wrapper(request: Any, context: Context) -> AsyncIterator[Any]:
                request_id, given = _request_id(context)
                with self._call(method, request_id, context):
                    if given:
                        await context.send_initial_metadata(((REQUEST_ID_HEADER, request_id),))
                    async for response in behavior(request, context):
                        yield response

            return wrapper

        return rewrap(handler, unary, stream)

    @contextmanager
    def _call(self, method: str, request_id: str, context: Context) -> Iterator[None]:
        self.in_flight += 1
        started = time.perf_counter()
        status = "OK"
        with observability.call_scope(request_id) as record:
            try:
                yield
            except BaseException as exc:
                status = _status_of(exc, context)
                raise
            finally:
                self.in_flight -= 1
                self._finish(method, status, time.perf_counter() - started, record)

    def _finish(self, method: str, status: str, took: float, record: dict[str, Any]) -> None:
        """Metrics and the access-log line of one finished call."""
        self.metrics.observe(method, status, str(record.get("source", "")), took)
        if self.access_log:
            fields = {"method": method, "status": status, "latency_ms": round(took * 1000, 2),
                      **record}
            access_log.info("call", extra={"fields": fields})


def _status_of(exc: BaseException, context: Context) -> str:
    """The status a call ends with when ``exc`` leaves its handler."""
    if isinstance(exc, AbortError):
        code = context.code()
        return code.name if isinstance(code, grpc.StatusCode) else str(code)
    if isinstance(exc, asyncio.CancelledError | GeneratorExit):
        return "CANCELLED"
    return "UNKNOWN"


def _request_id(context: Context) -> tuple[str, bool]:
    """(the call's request id, whether the caller gave it). A new id is set in the
    trailing metadata here; a given one is for the caller to echo in the initial."""
    given = find(context.invocation_metadata(), REQUEST_ID_HEADER)
    if given and _SAFE_REQUEST_ID.fullmatch(given):
        return given, True
    request_id = f"{_ID_PREFIX}{next(_ID_COUNTER):08x}"
    context.set_trailing_metadata(((REQUEST_ID_HEADER, request_id),))
    return request_id, False


