"""Who may call which service: bearer tokens compared in constant time, or mTLS client names."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc

from recsvc.errors import Unauthenticated
from recsvc.server.interceptors.handlers import find, rewrap

if TYPE_CHECKING:
    from recsvc.server.interceptors.handlers import Context, Handler, Stream, Unary

__all__ = ["AccessControl", "AccessRule"]


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


class AccessControl:
    """Per-service access rules (Segments returns personal data: always enforced;
    Recommender: when tokens or certificate names are configured, e.g. the BFF's alone).
    Tokens come in ``authorization: Bearer <token>`` metadata and are compared in constant
    time against every configured token. Innermost layer: it raises Unauthenticated for
    ErrorCodes to map."""

    def __init__(self, rules: Sequence[AccessRule]) -> None:
        self._rules = {
            f"/{r.service}/": (r, tuple(t.encode() for t in r.tokens), frozenset(r.cert_names))
            for r in rules if r.enforced
        }

    def wrap(self, details: grpc.HandlerCallDetails, handler: Handler) -> Handler:
        if not self._rules:
            return handler
        method = details.method
        found = self._rules.get(method[: method.rfind("/") + 1])
        if found is None:
            return handler
        rule, tokens, cert_names = found
        problem = _check_token(rule, tokens, find(details.invocation_metadata, "authorization"))
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

        return rewrap(handler, unary, stream)


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
