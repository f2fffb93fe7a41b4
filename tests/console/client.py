"""A plain HTTP client of the console for tests without a browser: a cookie jar, no
redirects followed, the page's CSRF token sent with each form."""

from __future__ import annotations

import re
from dataclasses import dataclass

import aiohttp

CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


@dataclass
class Page:
    status: int
    text: str
    headers: dict[str, str]


class ConsoleClient:
    def __init__(self, url: str) -> None:
        self.url = url
        self._session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def __aenter__(self) -> ConsoleClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._session.close()

    async def get(self, path: str) -> Page:
        async with self._session.get(self.url + path, allow_redirects=False) as r:
            page = Page(r.status, await r.text(), dict(r.headers))
        found = CSRF.search(page.text)
        if found:
            self.csrf = found.group(1)
        return page

    async def post(self, path: str, data: dict[str, str], *, csrf: bool = True) -> Page:
        form = {**data, **({"csrf_token": self.csrf} if csrf else {})}
        async with self._session.post(self.url + path, data=form, allow_redirects=False) as r:
            return Page(r.status, await r.text(), dict(r.headers))

    async def sign_in(self, token: str) -> Page:
        await self.get("/signin")
        return await self.post("/signin", {"token": token, "next": "/"})
