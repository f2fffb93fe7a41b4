"""Wrapping grpc method handlers: the Chain of layers, per-method caching, malformed requests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import grpc

__all__ = ["MALFORMED", "Chain", "Layer", "WrappedHandlers", "find", "rewrap", "tolerant"]

SERVICE_PREFIX = "/recsvc.api.v1."

if TYPE_CHECKING:  # the grpc classes are generic only in the stubs
    from grpc.aio import ServicerContext

    Handler = grpc.RpcMethodHandler[Any, Any]
    Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]]
    Context = ServicerContext[Any, Any]
    Unary = Callable[[Any, Context], Awaitable[Any]]
    Stream = Callable[[Any, Context], AsyncIterator[Any]]


class Layer(Protocol):
    """One concern wrapped around a handler of this service, once the handler is known."""

    def wrap(self, details: grpc.HandlerCallDetails, handler: Handler) -> Handler:
        ...


class Chain(grpc.aio.ServerInterceptor):
    """The server's one interceptor: the handler is looked up once and each layer wraps
    it, innermost (last) first, without an awaited continuation per layer per call.
    Only this service's methods are wrapped; health and reflection pass through."""

    def __init__(self, layers: Sequence[Layer]) -> None:
        self._layers = tuple(reversed(layers))

    async def intercept_service(
        self, continuation: Continuation, details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = await continuation(details)
        if handler is None or not details.method.startswith(SERVICE_PREFIX):
            return handler
        for layer in self._layers:
            handler = layer.wrap(details, handler)
        return handler


class WrappedHandlers:
    """Wrapped handlers by method, reused while the inner handler is the same object:
    wrapping builds closures and handler objects, and a call should not pay for that
    (grpc.aio runs the interceptor on every call)."""

    def __init__(self) -> None:
        self._by_method: dict[str, tuple[Handler, Handler]] = {}

    def get(self, method: str, handler: Handler, wrap: Callable[[], Handler]) -> Handler:
        cached = self._by_method.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = wrap()
        self._by_method[method] = (handler, wrapped)
        return wrapped


def rewrap(
    handler: Handler,
    unary: Callable[[Unary], Unary],
    stream: Callable[[Stream], Stream],
    deserializer: Callable[[Any], Any] | None = None,
) -> Handler:
    """The same handler with its behaviour (unary-unary and unary-stream) and optionally
    its request deserializer wrapped."""
    # The grpc stubs type behaviours as sync callables; under grpc.aio ours are coroutine
    # functions and async generator functions.
    unary_behaviour: Any = handler.unary_unary
    stream_behaviour: Any = handler.unary_stream
    parse = deserializer(handler.request_deserializer) if deserializer else None
    if unary_behaviour is not None:
        return grpc.unary_unary_rpc_method_handler(
            unary(unary_behaviour),
            request_deserializer=parse or handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    if stream_behaviour is not None:
        return grpc.unary_stream_rpc_method_handler(
            stream(stream_behaviour),
            request_deserializer=parse or handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    return handler


class _Malformed:
    """Stands in for a request whose bytes do not parse. grpc reports a deserializer's
    exception as UNKNOWN before any interceptor runs; this way it becomes
    INVALID_ARGUMENT like any other bad request."""


MALFORMED = _Malformed()


def tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """``deserializer`` returning MALFORMED instead of raising."""
    if deserializer is None:
        return None

    def parse(raw: bytes) -> Any:
        try:
            return deserializer(raw)
        except Exception:  # DecodeError, and whatever a parser raises on garbage
            return MALFORMED

    return parse


def find(metadata: Any, name: str) -> str | None:
    """The text value of ``name`` in call metadata (None if absent or binary)."""
    for key, value in metadata or ():
        if key == name:
            return value if isinstance(value, str) else None
    return None
