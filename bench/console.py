"""Benchmark: the console's server time per page, with 90 generations of history and 50
segments (moto server on loopback, a real recsvc for Lookup's Recommend call).

Each page is requested ``--requests`` times in turn by one signed-in admin; the server
time is the console's own ``Server-Timing`` (request in to response head out). The
baseline, measured in the same run, is the sign-in page (a template and the session, no
reads): each page's ratio to it is what the page's reads cost. Two runs: summaries reused
for 10 s (the default) and read on every page (RECSVC_CONSOLE_SUMMARIES_TTL_S=0, the
worst case). moto is slower per request than DynamoDB and shares this machine's 2 cores.

    .venv/bin/python bench/console.py [--requests 50] [--generations 90] [--segments 50]
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import re
import statistics
import sys
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/console.py` from a checkout
    sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402

from generation import layout  # noqa: E402
from loopback.aws import moto_server  # noqa: E402
from loopback.console import history, put_summaries, shop_generation, start_console  # noqa: E402
from loopback.processes import Proc  # noqa: E402
from profile_engine.publish import new_generation_id, publish  # noqa: E402

TABLE = "console-bench"
TOKEN = "admin-bench-token-0123456789"
TIMING = re.compile(r"app;dur=([\d.]+)")
CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


class Client:
    """urllib with a cookie jar; returns (status, server ms, body)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.csrf = ""

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: object, **kwargs: object) -> None:
                return None

        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), NoRedirect())

    def request(self, path: str, form: dict[str, str] | None = None) -> tuple[int, float, str]:
        data = urllib.parse.urlencode({**form, "csrf_token": self.csrf}).encode() \
            if form is not None else None
        try:
            with self.opener.open(self.url + path, data=data, timeout=30) as r:
                status, headers, body = r.status, r.headers, r.read().decode()
        except urllib.error.HTTPError as err:  # 303 after a form, 4xx
            status, headers, body = err.code, err.headers, err.read().decode()
        found = CSRF.search(body)
        if found:
            self.csrf = found.group(1)
        timing = TIMING.search(headers.get("Server-Timing", ""))
        return status, float(timing.group(1)) if timing else float("nan"), body


def seed(endpoint: str, generations: int, segments: int) -> str:
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    client.create_table(**layout.table_definition(TABLE))
    gen = new_generation_id()
    summaries = history(generations, segments, last=gen)
    publish(client, TABLE, shop_generation(gen, summaries[-1].published_at,
                                           segments=segments), ttl_days=1)
    put_summaries(client, TABLE, summaries)
    return gen


def measure(url: str, requests: int) -> dict[str, list[float]]:
    c = Client(url)
    c.request("/signin")
    status, _, _ = c.request("/signin", {"token": TOKEN, "next": "/"})
    assert status == 303, status
    pages: list[tuple[str, str, dict[str, str] | None]] = [
        ("sign-in page (baseline)", "/signin", None),
        ("overview", "/", None),
        ("live figures", "/live", None),
        ("segments", "/segments", None),
        ("segment", "/segments/high_value", None),
        ("exports", "/exports", None),
        ("lookup form", "/lookup", None),
        ("lookup (POST)", "/lookup", {"user_id": "u00042"}),
    ]
    out: dict[str, list[float]] = {name: [] for name, _, _ in pages}
    for _ in range(requests):
        for name, path, form in pages:
            if form is not None:
                c.request(path.rstrip("/") or "/")  # a fresh CSRF token, as a browser has
            status, ms, _ = c.request(path, form)
            assert status == 200, (name, status)
            out[name].append(ms)
    return out


def table(run: str, figures: dict[str, list[float]]) -> list[dict[str, object]]:
    base = statistics.median(figures["sign-in page (baseline)"])
    rows = []
    print(f"\n{run}")
    print(f"{'page':<26}{'median ms':>11}{'p95 ms':>9}{'max ms':>9}{'x baseline':>12}")
    for name, values in figures.items():
        values = sorted(values)
        med = statistics.median(values)
        p95 = values[max(0, int(round(0.95 * len(values))) - 1)]
        print(f"{name:<26}{med:>11.1f}{p95:>9.1f}{values[-1]:>9.1f}{med / base:>12.1f}")
        rows.append({"run": run, "page": name, "median_ms": med, "p95_ms": p95,
                     "max_ms": values[-1], "ratio": med / base})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--generations", type=int, default=90)
    parser.add_argument("--segments", type=int, default=50)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    rows: list[dict[str, object]] = []
    with moto_server() as endpoint:
        gen = seed(endpoint, args.generations, args.segments)
        print(f"seeded {args.generations} summaries x {args.segments} segments, "
              f"serving {gen}")
        service = Proc([sys.executable, "-m", "recsvc", "serve"], env={
            "RECSVC_HOST": "127.0.0.1", "RECSVC_PORT": "0", "RECSVC_TABLE": TABLE,
            "RECSVC_DYNAMODB_ENDPOINT_URL": endpoint, "RECSVC_CACHE": "memory",
            "RECSVC_ACCESS_LOG": "false", "RECSVC_LOG_LEVEL": "WARNING"}, name="recsvc-bench")
        try:
            target = service.wait_for(r"recsvc listening on (\S+)", 60).group(1)
            for run, ttl in (("summaries reused (default)", "60"),
                             ("summaries read on every page (TTL 0)", "0")):
                proc, url = start_console({
                    "RECSVC_CONSOLE_TABLE": TABLE,
                    "RECSVC_CONSOLE_DYNAMODB_ENDPOINT_URL": endpoint,
                    "RECSVC_CONSOLE_TOKENS": f"bench:admin:{TOKEN}",
                    "RECSVC_CONSOLE_RECSVC_TARGET": target,
                    "RECSVC_CONSOLE_SUMMARIES_TTL_S": ttl,
                    "RECSVC_CONSOLE_ACCESS_LOG": "false",
                    "RECSVC_CONSOLE_LOG_LEVEL": "WARNING",
                }, name="console-bench")
                try:
                    rows += table(run, measure(url, args.requests))
                finally:
                    proc.stop()
        finally:
            service.stop()
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
