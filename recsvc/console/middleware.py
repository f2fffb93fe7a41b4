"""Every response: its server time (``Server-Timing``, what bench/console.py measures),
security headers, and one access-log line (path template, status, ms; no query strings,
no form data)."""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ConsoleHeaders"]

access_log = logging.getLogger("recsvc.console.access")

# Nothing loads from elsewhere; no inline script or style; no framing.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
       "object-src 'none'")
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]
# Pages carry personal data (masked previews, lookups): no shared or browser cache.
NO_STORE = (b"cache-control", b"no-store")


class ConsoleHeaders:
    def __init__(self, app: ASGIApp, *, access_log_on: bool = True) -> None:
        self.app = app
        self.access_log_on = access_log_on

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                took_ms = (time.perf_counter() - started) * 1000
                headers = list(message.get("headers", []))
                headers.append((b"server-timing", f"app;dur={took_ms:.2f}".encode()))
                headers.extend(HEADERS)
                if not static:
                    headers.append(NO_STORE)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            if self.access_log_on and not static:
                route = scope.get("route")
                access_log.info("request", extra={"fields": {
                    "method": scope["method"],
                    # The route's template (/segments/{name}), not the path: no ids logged.
                    "path": getattr(route, "path", "?"),
                    "status": status,
                    "latency_ms": round((time.perf_counter() - started) * 1000, 2),
                }})
