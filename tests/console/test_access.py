"""Access: tokens sign in with their role; a wrong role gets a 403 that shows nothing of
what it guards; no page shows a full e-mail address; every form needs its CSRF token."""

from __future__ import annotations

import pytest

from recsvc.console.app import build_app
from recsvc.console.settings import ConsoleSettings
from tests.console.client import ConsoleClient
from tests.console.conftest import SECRET, TOKENS, Running, emails_in

PAGES = ("/", "/live", "/segments", "/segments/high_value", "/segments/lapsed", "/exports",
         "/exports/history", "/lookup")
NEEDS = {"/exports": "marketer", "/exports/history": "marketer", "/lookup": "admin"}
ROLES = ("viewer", "marketer", "admin")


async def test_pages_need_a_sign_in(console: Running) -> None:
    async with ConsoleClient(console.url) as c:
        for path in PAGES:
            page = await c.get(path)
            assert page.status == 303, path
            assert page.headers["Location"].startswith("/signin?next=")
        refused = await c.post("/exports", {"segment": "high_value", "format": "csv"})
        assert refused.status == 403
        assert "high_value" not in refused.text


async def test_a_wrong_token_signs_nobody_in(console: Running) -> None:
    async with ConsoleClient(console.url) as c:
        page = await c.sign_in("not-a-token-of-anybody")
        assert page.status == 401
        assert "does not sign anyone in" in page.text
        assert (await c.get("/")).status == 303


@pytest.mark.parametrize("role", ROLES)
async def test_each_role_opens_its_pages_and_gets_403_elsewhere(
    console: Running, role: str
) -> None:
    async with ConsoleClient(console.url) as c:
        assert (await c.sign_in(SECRET[role])).status == 303
        for path in PAGES:
            page = await c.get(path)
            needed = NEEDS.get(path, "viewer")
            allowed = ROLES.index(role) >= ROLES.index(needed)
            assert page.status == (200 if allowed else 403), (role, path, page.status)
            assert not emails_in(page.text), (role, path, emails_in(page.text))
            if not allowed:
                assert f"needs the {needed} role" in page.text
                # Nothing of the guarded page: no segment, generation or member.
                for leak in ("high_value", console.shop.generation, "u0000", "Audit"):
                    assert leak not in page.text, (role, path, leak)
            assert page.headers["Cache-Control"] == "no-store"
            assert "script-src 'self'" in page.headers["Content-Security-Policy"]


async def test_a_viewer_sees_no_personal_data(console: Running) -> None:
    async with ConsoleClient(console.url) as c:
        await c.sign_in(SECRET["viewer"])
        page = await c.get("/segments/high_value")
        assert "Member previews need the marketer role" in page.text
        assert "***@" not in page.text and "u0000" not in page.text
        refused = await c.post("/exports", {"segment": "high_value", "format": "csv"})
        assert refused.status == 403
        refused = await c.post("/lookup", {"user_id": "u0001"})
        assert refused.status == 403 and "u0001" not in refused.text


async def test_a_marketer_sees_masked_previews(console: Running) -> None:
    async with ConsoleClient(console.url) as c:
        await c.sign_in(SECRET["marketer"])
        page = await c.get("/segments/high_value")
        assert page.status == 200
        assert "u***@e***.com" in page.text
        assert "u0000@example.com" not in page.text and not emails_in(page.text)


def _post_routes() -> list[str]:
    app = build_app(ConsoleSettings(tokens=f"x:admin:{'t' * 16}"))
    return sorted({r.path for r in app.routes if "POST" in (getattr(r, "methods", None) or ())})


async def test_every_form_needs_its_csrf_token(console: Running) -> None:
    posts = _post_routes()
    assert {"/signin", "/signout", "/exports", "/lookup"} <= set(posts)
    async with ConsoleClient(console.url) as c:
        await c.get("/signin")
        assert (await c.post("/signin", {"token": SECRET["admin"]}, csrf=False)).status == 403
        await c.sign_in(SECRET["admin"])
        for path in posts:
            page = await c.post(path, {"token": SECRET["admin"], "user_id": "u0001",
                                       "segment": "high_value", "format": "csv"}, csrf=False)
            assert page.status == 403, path
            assert "u0001" not in page.text
        wrong = await c.post("/lookup", {"user_id": "u0001", "csrf_token": "forged"},
                             csrf=False)
        assert wrong.status == 403
        # Still signed in (the refused sign-out did nothing), and nothing was looked up.
        page = await c.get("/lookup")
        assert page.status == 200 and "u0001" not in page.text


async def test_signing_out_ends_the_session(console: Running) -> None:
    async with ConsoleClient(console.url) as c:
        await c.sign_in(SECRET["admin"])
        await c.get("/")
        out = await c.post("/signout", {})
        assert out.status == 303
        assert (await c.get("/")).status == 303


async def test_sign_in_goes_back_only_to_this_console(console: Running) -> None:
    async with ConsoleClient(console.url) as c:
        await c.get("/signin")
        for target, expected in (("/segments", "/segments"), ("//evil.example", "/"),
                                 ("https://evil.example/", "/")):
            page = await c.post("/signin", {"token": SECRET["viewer"], "next": target})
            assert page.headers["Location"] == expected
            await c.get("/signin")


def test_tokens_name_their_users() -> None:
    assert set(TOKENS) == set(ROLES)
