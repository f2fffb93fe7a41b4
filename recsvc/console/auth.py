"""Who is signed in, with which role: sign-in tokens checked in constant time, the
session (a signed cookie), role checks and the CSRF token every form carries."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from starlette.requests import Request

from recsvc.console.settings import ROLES, SignInToken

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "User",
    "check_token",
    "csrf_token",
    "csrf_valid",
    "current_user",
    "sign_in",
    "sign_out",
]

CSRF_FIELD = "csrf_token"
# htmx requests that carry no form send the token in this header (base.html sets it).
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: str

    def can(self, role: str) -> bool:
        """Whether this user's role includes ``role`` (admin > marketer > viewer)."""
        return ROLES.index(self.role) >= ROLES.index(role)


def check_token(tokens: tuple[SignInToken, ...], presented: str) -> SignInToken | None:
    """The entry whose token was presented, or None. Every entry is compared (digests of
    equal length, hmac.compare_digest): the time taken says nothing about which entry or
    how much of a token matched."""
    digest = hashlib.sha256(presented.encode()).digest()
    found: SignInToken | None = None
    for entry in tokens:
        if hmac.compare_digest(entry.digest, digest):
            found = entry
    return found


def current_user(request: Request, tokens: tuple[SignInToken, ...]) -> User | None:
    """The signed-in user; the role is looked up in the settings again on every request,
    so a token taken out of the settings ends its sessions at the next restart."""
    name = request.session.get("user")
    if not isinstance(name, str):
        return None
    for entry in tokens:
        if entry.name == name:
            return User(entry.name, entry.role)
    return None


def sign_in(request: Request, entry: SignInToken) -> None:
    # A new session (and CSRF token) at sign-in: nothing set before it carries over.
    request.session.clear()
    request.session["user"] = entry.name
    request.session["csrf"] = secrets.token_urlsafe(32)


def sign_out(request: Request) -> None:
    request.session.clear()


def csrf_token(request: Request) -> str:
    """The session's CSRF token (made on first use, also before sign-in)."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


def csrf_valid(request: Request, presented: str | None) -> bool:
    expected = request.session.get("csrf")
    if not isinstance(expected, str) or not presented:
        return False
    return hmac.compare_digest(expected.encode(), presented.encode())
