"""What every page shares: the console's context, the signed-in user, rendering with the
navigation and CSRF token, role checks and the checked form of a POST."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from recsvc.console.auth import CSRF_FIELD, CSRF_HEADER, User, csrf_token, csrf_valid, current_user
from recsvc.console.context import Console
from recsvc.console.masking import mask_email

__all__ = ["Forbidden", "NotSignedIn", "checked_form", "console", "render", "require",
           "to_sign_in"]

templates = Jinja2Templates(directory=str(Path(__file__).parent.parent / "templates"))
templates.env.filters["masked"] = mask_email

# (path, label, role needed): the navigation shows a user only what their role opens.
NAV = (
    ("/", "Overview", "viewer"),
    ("/segments", "Segments", "viewer"),
    ("/exports", "Exports", "marketer"),
    ("/lookup", "Lookup", "admin"),
)


class Forbidden(Exception):
    """Signed in, but the role does not open this: a 403 page that names only the role."""

    def __init__(self, needed: str) -> None:
        super().__init__(needed)
        self.needed = needed


class NotSignedIn(Exception):
    """No valid session: GETs go to the sign-in page, anything else is refused."""


def console(request: Request) -> Console:
    found: Console = request.app.state.console
    return found


def require(request: Request, role: str) -> User:
    user = current_user(request, console(request).tokens)
    if user is None:
        raise NotSignedIn()
    if not user.can(role):
        raise Forbidden(role)
    return user


async def checked_form(request: Request, role: str) -> tuple[User, FormData]:
    """The signed-in user (with ``role``) and the POSTed form, its CSRF token checked:
    every POST handler starts here."""
    user = require(request, role)
    form = await request.form()
    presented = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    if not csrf_valid(request, presented if isinstance(presented, str) else None):
        raise Forbidden("a valid form")
    return user, form


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    user = current_user(request, console(request).tokens)
    nav = [(path, label) for path, label, role in NAV if user is not None and user.can(role)]
    return templates.TemplateResponse(
        request, template,
        {"user": user, "nav": nav, "csrf": csrf_token(request), "path": request.url.path,
         **context},
        status_code=status_code,
    )


def to_sign_in(request: Request) -> Response:
    target = request.url.path
    return RedirectResponse(f"/signin?next={quote(target)}", status_code=303)
