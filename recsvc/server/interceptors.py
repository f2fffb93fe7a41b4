"""Server interceptors, one concern each: request context + access log, error -> status, auth.

Order (set in app.py), outermost first: RequestContext (sees the final status), Errors
(turns RecsvcError into a status), SegmentAuth (raises Unauthenticated for Errors to map).
Only this service's methods are wrapped; health and reflection pass through untouched.
All wrappers handle unary and server-streaming (async generator) handlers alike.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import grpc
from grpc.aio import AbortError, ServicerContext

from recsvc import observability
from recsvc.errors import (
    DeadlineExceeded,
    InvalidRequest,
    NotFound,
    RecsvcError,
    Unauthenticated,
    Unavailable,
)

__all__ = ["ErrorInterceptor", "RequestContextInterceptor", "SegmentAuthInterceptor"]

log = logging.getLogger(__name__)
access_log = logging.getLogger("recsvc.access")

SERVICE_PREFIX = "/recsvc.api.v1."
REQUEST_ID_HEADER = "x-request-id"
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

if TYPE_CHECKING:  # the grpc classes are generic only in the stubs
    Handler = grpc.RpcMethodHandler[Any, Any]
    Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]]
    Context = ServicerContext[Any, Any]
    Unary = Callable[[Any, Context], Awaitable[Any]]
    Stream = Callable[[Any, Context], AsyncIterator[Any]]


def _rewrap(
    handler: Handler, unary: Callable[[Unary], Unary], stream: Callable[[Stream], Stream]
) -> Handler:
    """The same handler with its behaviour wrapped (unary-unary and unary-stream)."""
    # The grpc stubs type behaviours as sync callables; under grpc.aio ours are coroutine
    # functions and async generator functions.
    unary_behaviour: Any = handler.unary_unary
    stream_behaviour: Any = handler.unary_stream
    if unary_behaviour is not None:
        return grpc.unary_unary_rpc_method_handler(
            unary(unary_behaviour),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    if stream_behaviour is not None:
        return grpc.unary_stream_rpc_method_handler(
            stream(stream_behaviour),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    return handler


def _metadata(details: grpc.HandlerCallDetails, name: str) -> str | None:
    for key, value in details.invocation_metadata or ():
        if key == name:
            return value if isinstance(value, str) else None
    return None


class RequestContextInterceptor(grpc.aio.ServerInterceptor):
    """Request id (caller's x-request-id if sane, else a new one) bound to every log line
    and echoed in the initial metadata; one access-log line per call with method,
    status, latency and the handler's annotations; counts calls in flight."""

    def __init__(self) -> None:
        self.in_flight = 0

    async def intercept_service(
        self, continuation: Continuation, details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = await continuation(details)
        method = details.method
        if handler is None or not method.startswith(SERVICE_PREFIX):
            return handler
        given = _metadata(details, REQUEST_ID_HEADER)
        request_id = given if given and _SAFE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex

        def unary(behavior: Unary) -> Unary:
            async def wrapper(request: Any, context: Context) -> Any:
                with self._call(method, request_id, context):
                    await context.send_initial_metadata(((REQUEST_ID_HEADER, request_id),))
                    return await behavior(request, context)

            return wrapper

        def stream(behavior: Stream) -> Stream:
            async def wrapper(request: Any, context: Context) -> AsyncIterator[Any]:
                with self._call(method, request_id, context):
                    await context.send_initial_metadata(((REQUEST_ID_HEADER, request_id),))
                    async for response in behavior(request, context):
                        yield response

            return wrapper

        return _rewrap(handler, unary, stream)

    @contextmanager
    def _call(self, method: str, request_id: str, context: Context) -> Iterator[None]:
        self.in_flight += 1
        started = time.perf_counter()
        status = "OK"
        with observability.call_scope(request_id) as record:
            try:
                yield
            except AbortError:
                code = context.code()
                status = code.name if isinstance(code, grpc.StatusCode) else str(code)
                raise
            except (asyncio.CancelledError, GeneratorExit):
                status = "CANCELLED"
                raise
            except BaseException:
                status = "UNKNOWN"
                raise
            finally:
                self.in_flight -= 1
                fields = {
                    "method": method,
                    "status": status,
                    "latency_ms": round((time.perf_counter() - started) * 1000, 2),
                    **record,
                }
                access_log.info("call", extra={"fields": fields})


_CODES: tuple[tuple[type[RecsvcError], grpc.StatusCode], ...] = (
    (InvalidRequest, grpc.StatusCode.INVALID_ARGUMENT),
    (Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (DeadlineExceeded, grpc.StatusCode.DEADLINE_EXCEEDED),
    (Unavailable, grpc.StatusCode.UNAVAILABLE),
)


async def _abort_for(exc: Exception, context: Context) -> None:
    """Abort the call with the status ``exc`` maps to (raises AbortError)."""
    for kind, code in _CODES:
        if isinstance(exc, kind):
            await context.abort(code, str(exc))
    # A bug: the caller learns nothing about internals; the log gets the stack
    # (type and frames only, see observability.JsonFormatter).
    log.error("unhandled error in handler", exc_info=exc)
    await context.abort(grpc.StatusCode.INTERNAL, "internal error")


class ErrorInterceptor(grpc.aio.ServerInterceptor):
    """Maps the RecsvcError tree to status codes, anything else to INTERNAL."""

    async def intercept_service(
        self, continuation: Continuation, details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = await continuation(details)
        if handler is None or not details.method.startswith(SERVICE_PREFIX):
            return handler

        def unary(behavior: Unary) -> Unary:
            async def wrapper(request: Any, context: Context) -> Any:
                try:
                    return await behavior(request, context)
                except AbortError:
                    raise
                except Exception as exc:
                    await _abort_for(exc, context)

            return wrapper

        def stream(behavior: Stream) -> Stream:
            async def wrapper(request: Any, context: Context) -> AsyncIterator[Any]:
                try:
                    async for response in behavior(request, context):
                        yield response
                except AbortError:
                    raise
                except Exception as exc:
                    await _abort_for(exc, context)

            return wrapper

        return _rewrap(handler, unary, stream)


class SegmentAuthInterceptor(grpc.aio.ServerInterceptor):
    """Segments returns personal data: every call needs ``authorization: Bearer <token>``
    with one of the configured tokens. No tokens configured: every call is refused."""

    def __init__(self, tokens: Sequence[str], service: str) -> None:
        self._tokens = tuple(t.encode() for t in tokens)
        self._prefix = f"/{service}/"

    async def intercept_service(
        self, continuation: Continuation, details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = await continuation(details)
        if handler is None or not details.method.startswith(self._prefix):
            return handler
        problem = self._check(_metadata(details, "authorization"))
        if problem is None:
            return handler

        def unary(behavior: Unary) -> Unary:
            async def deny(request: Any, context: Context) -> Any:
                raise Unauthenticated(problem)

            return deny

        def stream(behavior: Stream) -> Stream:
            async def deny(request: Any, context: Context) -> AsyncIterator[Any]:
                raise Unauthenticated(problem)
                yield  # an async generator, like the handler it replaces

            return deny

        return _rewrap(handler, unary, stream)

    def _check(self, header: str | None) -> str | None:
        if not self._tokens:
            return "Segments is disabled: no access tokens are configured"
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return "missing 'authorization: Bearer <token>' metadata"
        given = token.strip().encode()
        # Compare against every token, in constant time, so timing reveals nothing.
        matches = [hmac.compare_digest(given, t) for t in self._tokens]
        return None if any(matches) else "invalid access token"
