"""The server's interceptor: one concern per layer, in the one order that works.

Outermost first: RequestContext (sees the final status, feeds metrics), ErrorCodes (turns
RecsvcError into a status), AccessControl (raises Unauthenticated for ErrorCodes to map).
All layers handle unary and server-streaming (async generator) handlers alike.
"""

from __future__ import annotations

from collections.abc import Sequence

from recsvc.server.interceptors.auth import AccessControl, AccessRule
from recsvc.server.interceptors.context import RequestContext
from recsvc.server.interceptors.errors import ErrorCodes
from recsvc.server.interceptors.handlers import Chain

__all__ = ["AccessRule", "Chain", "RequestContext", "interceptor"]


def interceptor(requests: RequestContext, rules: Sequence[AccessRule]) -> Chain:
    """The layers as the server's one interceptor."""
    return Chain([requests, ErrorCodes(), AccessControl(rules)])
