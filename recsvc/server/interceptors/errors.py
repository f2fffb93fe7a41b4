"""The RecsvcError tree -> gRPC status codes, INTERNAL for anything else."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import grpc
from grpc.aio import AbortError

from recsvc.errors import (
    DeadlineExceeded,
    FailedPrecondition,
    InvalidRequest,
    NotFound,
    RecsvcError,
    Unauthenticated,
    Unavailable,
)
from recsvc.server.interceptors.handlers import MALFORMED, WrappedHandlers, rewrap, tolerant

if TYPE_CHECKING:
    from recsvc.server.interceptors.handlers import Context, Handler, Stream, Unary

__all__ = ["ErrorCodes"]

log = logging.getLogger(__name__)

_CODES: tuple[tuple[type[RecsvcError], grpc.StatusCode], ...] = (
    (InvalidRequest, grpc.StatusCode.INVALID_ARGUMENT),
    (Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (DeadlineExceeded, grpc.StatusCode.DEADLINE_EXCEEDED),
    (Unavailable, grpc.StatusCode.UNAVAILABLE),
)


class ErrorCodes:
    """Ends a call that raised with the status its error maps to; a request that does not
    parse is an InvalidRequest. Inside RequestContext (which logs the final status),
    outside AccessControl (whose Unauthenticated it maps)."""

    def __init__(self) -> None:
        self._wrapped = WrappedHandlers()

    def wrap(self, details: grpc.HandlerCallDetails, handler: Handler) -> Handler:
        return self._wrapped.get(details.method, handler, lambda: self._wrap(handler))

    def _wrap(self, handler: Handler) -> Handler:
        def unary(behavior: Unary) -> Unary:
            async def wrapper(request: Any, context: Context) -> Any:
                try:
                    if request is MALFORMED:
                        raise InvalidRequest("request", "not a valid message of this method")
                    return await behavior(request, context)
                except AbortError:
                    raise
                except Exception as exc:
                    await _abort_for(exc, context)

            return wrapper

        def stream(behavior: Stream) -> Stream:
            async def wrapper(request: Any, context: Context) -> AsyncIterator[Any]:
                try:
                    if request is MALFORMED:
                        raise InvalidRequest("request", "not a valid message of this method")
                    async for response in behavior(request, context):
                        yield response
                except AbortError:
                    raise
                except Exception as exc:
                    await _abort_for(exc, context)

            return wrapper

        return rewrap(handler, unary, stream, tolerant)


async def _abort_for(exc: Exception, context: Context) -> None:
    """Abort the call with the status ``exc`` maps to (raises AbortError)."""
    for kind, code in _CODES:
        if isinstance(exc, kind):
            await context.abort(code, str(exc))
    # A bug: the caller learns nothing about internals; the log gets the stack
    # (type and frames only, see observability.JsonFormatter).
    log.error("unhandled error in handler", exc_info=exc)
    await context.abort(grpc.StatusCode.INTERNAL, "internal error")
