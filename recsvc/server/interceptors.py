"""Server interceptors, one concern each: request context + access log, error -> status, auth.

Order (set in app.py), outermost first: RequestContext (sees the final status, feeds
metrics), Errors (turns RecsvcError into a status), Auth (raises Unauthenticated for Errors
to map).
Only this service's methods are wrapped; health and reflection pass through untouched.
All wrappers handle unary and server-streaming (async generator) handlers alike.
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import grpc
from grpc.aio import AbortError, ServicerContext

from recsvc import observability
from recsvc.errors import (
    DeadlineExceeded,
    FailedPrecondition,
    InvalidRequest,
    NotFound,
    RecsvcError,
    Unauthenticated,
    Unavailable,
)
from recsvc.metrics import Metrics

__all__ = [
    "AccessRule",
    "AuthInterceptor",
    "Chain",
    "ErrorInterceptor",
    "RequestContextInterceptor",
]

log = logging.getLogger(__name__)
access_log = logging.getLogger("recsvc.access")

SERVICE_PREFIX = "/recsvc.api.v1."
REQUEST_ID_HEADER = "x-request-id"
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# New request ids: a random prefix per process and a counter (unique without a
# urandom call per request).
_ID_PREFIX = uuid.uuid4().hex[:16]
_ID_COUNTER = itertools.count()

if TYPE_CHECKING:  # the grpc classes are generic only in the stubs
    Handler = grpc.RpcMethodHandler[Any, Any]
    Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]]
    Context = ServicerContext[Any, Any]
    Unary = Callable[[Any, Context], Awaitable[Any]]
    Stream = Callable[[Any, Context], AsyncIterator[Any]]


def _rewrap(
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


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None

    def parse(raw: bytes) -> Any:
        try:
            return deserializer(raw)
        except Exception:  # DecodeError, and whatever a parser raises on garbage
            return MALFORMED

    return parse


def _metadata(details: grpc.HandlerCallDetails, name: str) -> str | None:
    return _find(details.invocation_metadata, name)


def _find(metadata: Any, name: str) -> str | None:
    for key, value in metadata or ():
        if key == name:
            return value if isinstance(value, str) else None
    return None


class Layer(Protocol):
    """An interceptor's work once the handler is known, without the continuation."""

    def wrap(self, details: grpc.HandlerCallDetails, handler: Handler | None) -> Handler | None:
        ...


class Chain(grpc.aio.ServerInterceptor):
    """Several interceptors as one: the handler is looked up once and each layer wraps it,
    innermost (last) first. Same behaviour as passing them to the server separately,
    without an awaited continuation per layer per call."""

    def __init__(self, layers: Sequence[Layer]) -> None:
        self._layers = tuple(reversed(layers))

    async def intercept_service(
        self, continuation: Continuation, details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = await continuation(details)
        for layer in self._layers:
            handler = layer.wrap(details, handler)
        return handler


class _Wrapped:
    """Wrapped handlers by method, reused while the inner handler is the same object:
    wrapping builds closures and handler objects, and a call should not pay for that
    (grpc.aio runs every interceptor on every call)."""

    def __init__(self) -> None:
        self._by_method: dict[str, tuple[Handler, Handler]] = {}

    def get(self, method: str, handler: Handler, wrap: Callable[[], Handler]) -> Handler:
        cached = self._by_method.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = wrap()
        self._by_method[method] = (handler, wrapped)
        return wrapped


class RequestContextInterceptor(grpc.aio.ServerInterceptor):
    """Request id (caller's x-request-id if sane, else a new one) bound to every log line
    and echoed: a caller's id in the initial metadata, a new one in the trailing metadata
    (sending initial metadata on its own costs a write per call, ~15% of a cached
    Recommend); one access-log line per call with method,
    status, latency and the handler's annotations; counts calls in flight and feeds the
    per-call metrics."""

    def __init__(self, metrics: Metrics | None = None, *, access_log: bool = True) -> None:
        self.in_flight = 0
        self.metrics = metrics
        self.access_log = access_log
        self._wrapped = _Wrapped()

    async def intercept_service(
        self, continuation: Continuation, details: grpc.HandlerCallDetails
    ) -> Handler | None:
        return self.wrap(details, await continuation(details))

    def wrap(self, details: grpc.HandlerCallDetails, handler: Handler | None) -> Handler | None:
        method = details.method
        if handler is None or not method.startswith(SERVICE_PREFIX):
            return handler
        return self._wrapped.get(method, handler, lambda: self._wrap(method, handler))

    def _wrap(self, method: str, handler: Handler) -> Handler:
        def unary(behavior: Unary) -> Unary:
            # The hot path of every cached Recommend: one flat coroutine, no context
            # managers (each generator-based one costs more than the memo hit it wraps).
            async def wrapper(request: Any, context: Context) -> Any:
                request_id, given = _request_id(context)
                if given:
                    await context.send_initial_metadata(((REQUEST_ID_HEADER, request_id),))
                record = observability.CallRecord()
                tokens = observability.bind(request_id, record)
                self.in_flight += 1
                started = time.perf_counter()
                status = "OK"
                try:
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
                request_id = await _echo_request_id(context)
                with self._call(method, request_id, context):
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
            except BaseException as exc:
                status = _status_of(exc, context)
                raise
            finally:
                self.in_flight -= 1
                self._finish(method, status, time.perf_counter() - started, record)

    def _finish(self, method: str, status: str, took: float, record: dict[str, Any]) -> None:
        """Metrics and the access-log line of one finished call."""
        if self.metrics is not None:
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
    given = _find(context.invocation_metadata(), REQUEST_ID_HEADER)
    if given and _SAFE_REQUEST_ID.fullmatch(given):
        return given, True
    request_id = f"{_ID_PREFIX}{next(_ID_COUNTER):08x}"
    context.set_trailing_metadata(((REQUEST_ID_HEADER, request_id),))
    return request_id, False


async def _echo_request_id(context: Context) -> str:
    request_id, given = _request_id(context)
    if given:
        await context.send_initial_metadata(((REQUEST_ID_HEADER, request_id),))
    return request_id


_CODES: tuple[tuple[type[RecsvcError], grpc.StatusCode], ...] = (
    (InvalidRequest, grpc.StatusCode.INVALID_ARGUMENT),
    (Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
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

    def __init__(self) -> None:
        self._wrapped = _Wrapped()

    async def intercept_service(
        self, continuation: Continuation, details: grpc.HandlerCallDetails
    ) -> Handler | None:
        return self.wrap(details, await continuation(details))

    def wrap(self, details: grpc.HandlerCallDetails, handler: Handler | None) -> Handler | None:
        if handler is None or not details.method.startswith(SERVICE_PREFIX):
            return handler
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

        return _rewrap(handler, unary, stream, _tolerant)


@dataclass(frozen=True)
class AccessRule:
    """Who may call one service: a bearer token from ``tokens`` or a verified mTLS client
    certificate whose subject name (CN or SAN) is in ``cert_names``. ``required`` False
    with nothing configured: the service is open."""

    service: str
    tokens: tuple[str, ...] = ()
    cert_names: tuple[str, ...] = ()
    required: bool = True

    @property
    def enforced(self) -> bool:
        return self.required or bool(self.tokens or self.cert_names)


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Per-service access rules (Segments returns personal data: always enforced;
    Recommender: when tokens or certificate names are configured, e.g. the BFF's alone).
    Tokens come in ``authorization: Bearer <token>`` metadata and are compared in constant
    time against every configured token."""

    def __init__(self, rules: Sequence[AccessRule]) -> None:
        self._rules = {
            f"/{r.service}/": (r, tuple(t.encode() for t in r.tokens), frozenset(r.cert_names))
            for r in rules if r.enforced
        }

    async def intercept_service(
        self, continuation: Continuation, details: grpc.HandlerCallDetails
    ) -> Handler | None:
        return self.wrap(details, await continuation(details))

    def wrap(self, details: grpc.HandlerCallDetails, handler: Handler | None) -> Handler | None:
        if handler is None or not self._rules:
            return handler
        method = details.method
        found = self._rules.get(method[: method.rfind("/") + 1])
        if found is None:
            return handler
        rule, tokens, cert_names = found
        problem = _check_token(rule, tokens, _metadata(details, "authorization"))
        if problem is None:
            return handler
        # No valid token: a verified client certificate may still do (checked per call,
        # only the call's context knows the peer).
        def allowed(context: Context) -> bool:
            return bool(cert_names) and not cert_names.isdisjoint(_peer_names(context))

        def unary(behavior: Unary) -> Unary:
            async def guarded(request: Any, context: Context) -> Any:
                if not allowed(context):
                    raise Unauthenticated(problem)
                return await behavior(request, context)

            return guarded

        def stream(behavior: Stream) -> Stream:
            async def guarded(request: Any, context: Context) -> AsyncIterator[Any]:
                if not allowed(context):
                    raise Unauthenticated(problem)
                async for response in behavior(request, context):
                    yield response

            return guarded

        return _rewrap(handler, unary, stream)


def _check_token(rule: AccessRule, tokens: tuple[bytes, ...], header: str | None) -> str | None:
    if not tokens and not rule.cert_names:
        return f"{rule.service} is disabled: no access tokens are configured"
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return "missing 'authorization: Bearer <token>' metadata"
    given = token.strip().encode()
    # Compare against every token, in constant time, so timing reveals nothing.
    matches = [hmac.compare_digest(given, t) for t in tokens]
    return None if any(matches) else "invalid access token"


def _peer_names(context: Context) -> set[str]:
    """Subject names of the caller's verified client certificate (empty without mTLS)."""
    auth = context.auth_context()
    names: set[str] = set()
    for prop in ("x509_common_name", "x509_subject_alternative_name"):
        for value in auth.get(prop, ()):
            names.add(value.decode(errors="replace") if isinstance(value, bytes) else value)
    return names
