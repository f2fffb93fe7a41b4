"""Sign-in with a token from the settings (its entry names the user and the role), and
sign-out. Both are forms with the CSRF token."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from recsvc.console.auth import CSRF_FIELD, check_token, csrf_valid, sign_in, sign_out
from recsvc.console.pages.common import Forbidden, console, render

__all__ = ["routes"]


def _next(value: object) -> str:
    """Where to go after signing in: a path on this console only (no //host, no scheme)."""
    if isinstance(value, str) and value.startswith("/") and not value.startswith("//") \
            and "\\" not in value:
        return value
    return "/"


async def sign_in_page(request: Request) -> Response:
    return render(request, "signin.html", next=_next(request.query_params.get("next")))


async def sign_in_form(request: Request) -> Response:
    form = await request.form()
    presented = form.get(CSRF_FIELD)
    if not csrf_valid(request, presented if isinstance(presented, str) else None):
        raise Forbidden("a valid form")
    token = form.get("token")
    entry = check_token(console(request).tokens, token if isinstance(token, str) else "")
    target = _next(form.get("next"))
    if entry is None:
        return render(request, "signin.html", status_code=401, next=target,
                      error="That token does not sign anyone in.")
    sign_in(request, entry)
    return RedirectResponse(target, status_code=303)


async def sign_out_form(request: Request) -> Response:
    form = await request.form()
    presented = form.get(CSRF_FIELD)
    if not csrf_valid(request, presented if isinstance(presented, str) else None):
        raise Forbidden("a valid form")
    sign_out(request)
    return RedirectResponse("/signin", status_code=303)


routes = [
    Route("/signin", sign_in_page, methods=["GET"]),
    Route("/signin", sign_in_form, methods=["POST"]),
    Route("/signout", sign_out_form, methods=["POST"]),
]
