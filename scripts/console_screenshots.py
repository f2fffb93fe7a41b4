"""The README's console screenshots, from a real run: moto, the synthetic shop, the profile
job run twice (two generations), older nights seeded up to 90 (scripts/screenshot_history),
recsvc with shoppers' calls running, then the console in Debian's chromium (Playwright):
a marketer exports segments, an admin looks a shopper up, and each page is saved as a PNG.

    .venv/bin/python -m scripts.console_screenshots [--out docs/console]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import secrets
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import grpc
from playwright.sync_api import Page, sync_playwright

from generation import layout, payloads
from loopback.aws import moto_server
from loopback.console import start_console
from loopback.ports import ports_outside_ephemeral
from loopback.processes import Proc
from profile_engine.synthetic.shop import DEFAULT_START
from recsvc.api.v1 import recommender_pb2_grpc as rgrpc
from recsvc.requests import recommend_request
from scripts.demo import run, wait_serving
from scripts.screenshot_history import fill_history

BIN = Path(sys.executable).parent
REGION, TABLE, BUCKET = "us-east-1", "recsvc-console", "console-shop"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
VIEWPORT = {"width": 1280, "height": 860}


def shoppers(target: str, users: list[str], stop: threading.Event) -> None:
    """Recommend calls, as a shop's pages make them, until ``stop`` (live figures)."""
    rng = random.Random(3)
    with grpc.insecure_channel(target) as channel:
        stub = rgrpc.RecommenderStub(channel)
        while not stop.is_set():
            user = rng.choice(users) if rng.random() < 0.85 else f"visitor-{rng.randrange(10**6)}"
            try:
                # Pages ask for different list sizes: answers differ, profiles are shared.
                stub.Recommend(recommend_request(user, rng.choice((4, 6, 8, 10, 12))),
                               timeout=2)
            except grpc.RpcError:
                pass
            time.sleep(0.01)


def first_members(client: Any, generation: str, segment: str, n: int) -> list[str]:
    resp = client.query(**layout.segment_page_query(TABLE, generation, segment, n))
    return [payloads.decode_segment_member(layout.payload(i)).user_id for i in resp["Items"]]


def sign_in(page: Page, url: str, token: str, path: str = "/") -> None:
    page.goto(url + path)
    page.fill("input[name=token]", token)
    page.click("form[action='/signin'] button[type=submit]")
    page.wait_for_load_state("networkidle")


def shoot(page: Page, out: Path, name: str) -> None:
    page.wait_for_load_state("networkidle")
    for canvas in page.locator("canvas[data-chart]").all():
        canvas.wait_for()
        page.wait_for_selector(f"canvas#{canvas.get_attribute('id')}[data-rendered='1']")
    path = out / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"  {path}")


def take(url: str, tokens: dict[str, str], out: Path, segment: str, shopper: str) -> None:
    with sync_playwright() as pw:
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=args)
        marketer = browser.new_context(viewport=VIEWPORT).new_page()
        sign_in(marketer, url, tokens["marketer"])
        deadline = time.monotonic() + 60  # two scrapes of the service's metrics
        while "data-figure=\"calls\"" not in marketer.content():
            if time.monotonic() > deadline:
                raise SystemExit("the console shows no live figures")
            time.sleep(1)
            marketer.reload()
        shoot(marketer, out, "overview")
        marketer.goto(url + "/segments")
        shoot(marketer, out, "segments")
        marketer.goto(f"{url}/segments/{segment}")
        shoot(marketer, out, "segment")
        for name, fmt in ((segment, "csv"), (segment, "pinpoint-csv"), ("lapsed", "ses-csv")):
            marketer.goto(url + "/exports")
            marketer.select_option("select[name=segment]", name)
            marketer.select_option("select[name=format]", fmt)
            marketer.click("form[action='/exports'] button[type=submit]")
            marketer.locator("#history tbody tr").first.locator("td.status-done").wait_for(
                timeout=60_000)
        shoot(marketer, out, "exports")
        admin = browser.new_context(viewport=VIEWPORT).new_page()
        sign_in(admin, url, tokens["admin"], "/lookup")
        admin.fill("input[name=user_id]", shopper)
        admin.click("form[action='/lookup'] button[type=submit]")
        admin.locator("#served-recs li").first.wait_for()
        shoot(admin, out, "lookup")
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("docs/console"))
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--products", type=int, default=400)
    parser.add_argument("--days", type=int, default=45)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    aws = {"AWS_ACCESS_KEY_ID": "demo", "AWS_SECRET_ACCESS_KEY": "demo",
           "AWS_DEFAULT_REGION": REGION}
    os.environ.update(aws)
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="console-")))
        endpoint = stack.enter_context(moto_server())
        client = boto3.client("dynamodb", endpoint_url=endpoint, region_name=REGION)
        client.create_table(**layout.table_definition(TABLE))
        boto3.client("s3", endpoint_url=endpoint, region_name=REGION).create_bucket(Bucket=BUCKET)
        env = {**os.environ, "PROFILE_ENGINE_EVENTS": f"s3://{BUCKET}/events",
               "PROFILE_ENGINE_REPLICA_URL": f"sqlite:///{workdir / 'shop.db'}",
               "PROFILE_ENGINE_TABLE": TABLE, "PROFILE_ENGINE_DYNAMODB_ENDPOINT_URL": endpoint,
               "PROFILE_ENGINE_S3_ENDPOINT_URL": endpoint,
               # Segment members per generation: the second run counts who joined and left.
               "PROFILE_ENGINE_MEMBERSHIP_URL": f"s3://{BUCKET}/membership"}
        engine = str(BIN / "profile-engine")
        run([engine, "generate", "--users", str(args.users), "--products", str(args.products),
             "--days", str(args.days), "--seed", "7"], env)
        # Three nights ago, then tonight on every event: two generations whose segments
        # differ by what the shop did since (joined, left), as on a real pair of nights.
        earlier = DEFAULT_START + timedelta(days=args.days - 4)
        run([engine, "run", "--as-of", f"{earlier.isoformat()}T23:59:59Z"], env)
        run([engine, "run"], env)
        print(f"seeded {fill_history(client, TABLE)} older generations")

        metrics_port = ports_outside_ephemeral()
        service = Proc([str(BIN / "recsvc"), "serve"], env={
            "RECSVC_HOST": "127.0.0.1", "RECSVC_PORT": "0", "RECSVC_TABLE": TABLE,
            "RECSVC_DYNAMODB_ENDPOINT_URL": endpoint, "RECSVC_CACHE": "memory",
            "RECSVC_METRICS_PORT": str(metrics_port), "RECSVC_ACCESS_LOG": "false"},
            name="recsvc-screenshots")
        stack.callback(service.stop)
        target = service.wait_for(r"recsvc listening on (\S+)", 60).group(1)
        wait_serving(target, service.popen)
        pointer = layout.decode_pointer(client.get_item(
            TableName=TABLE, Key=layout.pointer_key(), ConsistentRead=True)["Item"])
        users = first_members(client, pointer.generation, "high_value", 200)
        stop = threading.Event()
        traffic = threading.Thread(target=shoppers, args=(target, users, stop), daemon=True)
        traffic.start()
        stack.callback(stop.set)

        tokens = {role: secrets.token_urlsafe(18) for role in ("admin", "marketer", "viewer")}
        names = {"admin": "support-lead", "marketer": "marketing", "viewer": "analyst"}
        proc, url = start_console({
            "RECSVC_CONSOLE_TABLE": TABLE, "RECSVC_CONSOLE_DYNAMODB_ENDPOINT_URL": endpoint,
            "RECSVC_CONSOLE_S3_ENDPOINT_URL": endpoint,
            "RECSVC_CONSOLE_EXPORT_URI": f"s3://{BUCKET}/segments",
            "RECSVC_CONSOLE_RECSVC_TARGET": target,
            "RECSVC_CONSOLE_METRICS_URLS": f"http://127.0.0.1:{metrics_port}/metrics",
            "RECSVC_CONSOLE_METRICS_INTERVAL_S": "2",
            "RECSVC_CONSOLE_METRICS_WINDOW_S": "20",
            "RECSVC_CONSOLE_TOKENS": ",".join(f"{names[r]}:{r}:{t}" for r, t in tokens.items()),
        })
        stack.callback(proc.stop)
        print(f"console at {url}; screenshots into {args.out}/")
        take(url, tokens, args.out, "high_value", users[0])
        if re.search(r'"level": "ERROR"', proc.output()):
            raise SystemExit(f"the console logged errors:\n{proc.output()[-3000:]}")


if __name__ == "__main__":
    main()
