"""The console's ASGI app: routes of every page, the session cookie, headers and server
timing, error pages that say what happened and nothing else, and the lifespan that opens
and closes what the pages read."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from recsvc.console.context import open_console
from recsvc.console.middleware import ConsoleHeaders
from recsvc.console.pages import exports, lookup, overview, segments, signin
from recsvc.console.pages.common import Forbidden, NotSignedIn, render, to_sign_in
from recsvc.console.settings import ConsoleSettings
from recsvc.errors import RecsvcError, Unavailable

__all__ = ["STATIC", "VENDOR_FILES", "build_app"]

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
# Built from npm by the Makefile (scripts/console_assets.sh); nothing loads from elsewhere.
VENDOR_FILES = ("chart.umd.min.js", "htmx.min.js")


def _check_assets() -> None:
    missing = [f for f in VENDOR_FILES if not (STATIC / "vendor" / f).is_file()]
    if missing:
        raise RuntimeError(
            f"console assets missing from {STATIC / 'vendor'}: {', '.join(missing)} "
            "(run `make venv`, which runs scripts/console_assets.sh)")


async def _forbidden(request: Request, exc: Exception) -> Response:
    needed = exc.needed if isinstance(exc, Forbidden) else ""
    return render(request, "error.html", status_code=403, title="Forbidden",
                  message=f"This needs {needed}." if needed == "a valid form" else
                  f"This page needs the {needed} role." if needed else "Not allowed.")


async def _not_signed_in(request: Request, exc: Exception) -> Response:
    if request.method == "GET":
        return to_sign_in(request)
    return render(request, "error.html", status_code=403, title="Forbidden",
                  message="Sign in first.")


async def _http_error(request: Request, exc: Exception) -> Response:
    code = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) and code == 404 else ""
    return render(request, "error.html", status_code=code, title=f"Error {code}",
                  message=detail or ("Not found." if code == 404 else "That did not work."))


async def _unavailable(request: Request, exc: Exception) -> Response:
    # Messages of the service's tree carry no personal data or backend internals.
    log.warning("page unavailable", extra={"fields": {"error": type(exc).__name__}})
    return render(request, "error.html", status_code=503, title="Unavailable",
                  message=str(exc) if isinstance(exc, RecsvcError) else "Try again.")


async def _health(request: Request) -> Response:
    """For the load balancer and the container health check: the process answers (no
    session, no data; a store outage shows on the pages, it is not a reason to restart)."""
    return PlainTextResponse("ok")


def build_app(settings: ConsoleSettings) -> Starlette:
    _check_assets()
    secret = settings.session_secret.get_secret_value()
    if not secret:
        log.warning("RECSVC_CONSOLE_SESSION_SECRET is not set: sessions end on restart and "
                    "work on this process only")
        secret = secrets.token_urlsafe(32)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.console = await open_console(settings)
        try:
            yield
        finally:
            await app.state.console.aclose()

    routes = [*overview.routes, *segments.routes, *exports.routes, *lookup.routes,
              *signin.routes, Route("/healthz", _health),
              Mount("/static", StaticFiles(directory=STATIC), name="static")]
    middleware = [
        Middleware(ConsoleHeaders, access_log_on=settings.access_log),
        Middleware(SessionMiddleware, secret_key=secret, session_cookie="console_session",
                   max_age=settings.session_max_age_s, same_site="lax",
                   https_only=settings.cookie_secure),
    ]
    handlers = {
        Forbidden: _forbidden, NotSignedIn: _not_signed_in, HTTPException: _http_error,
        Unavailable: _unavailable,
    }
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan,
                     exception_handlers=handlers)
