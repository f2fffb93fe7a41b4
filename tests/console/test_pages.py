"""What each page shows, read over plain HTTP from a real console process."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable

import grpc

from recsvc.console.readers.records import AUDIT_PK, EXPORTS_PK
from recsvc.requests import recommend_request
from tests.conftest import dynamodb_client, s3_client
from tests.console.client import ConsoleClient
from tests.console.conftest import SECRET, SUMMARIES, Running


def chart(text: str, chart_id: str) -> dict:  # type: ignore[type-arg]
    found = re.search(rf'<script type="application/json" id="{chart_id}-data">(.*?)</script>',
                      text, re.S)
    assert found, chart_id
    return json.loads(found.group(1))  # type: ignore[no-any-return]


async def test_overview_shows_the_served_generation_and_its_history(console: Running) -> None:
    async with ConsoleClient(console.url) as c:
        await c.sign_in(SECRET["viewer"])
        page = await c.get("/")
    assert console.shop.generation in page.text
    assert "0.3100" in page.text  # the manifest's ndcg@10
    quality = chart(page.text, "quality")
    assert len(quality["labels"]) == SUMMARIES
    assert [s["label"] for s in quality["series"]] == ["NDCG@10", "Coverage@10"]
    assert all(v is not None for s in quality["series"] for v in s["data"])
    counts = chart(page.text, "counts")
    assert {s["label"] for s in counts["series"]} >= {"profiles", "events"}
    assert re.fullmatch(r"app;dur=\d+\.\d\d", page.headers["Server-Timing"])


async def test_segments_list_the_served_generation_s_figures(console: Running) -> None:
    async with ConsoleClient(console.url) as c:
        await c.sign_in(SECRET["viewer"])
        page = await c.get("/segments")
        one = await c.get("/segments/high_value")
        missing = await c.get("/segments/no_such_segment")
    assert page.status == 200
    for name in ("high_value", "lapsed", "top RFM monetary quintile"):
        assert name in page.text
    history = chart(one.text, "segment-size")
    assert len(history["labels"]) == SUMMARIES
    sizes = history["series"][0]["data"]
    assert all(isinstance(v, int) for v in sizes) and len(set(sizes)) > 1
    assert missing.status == 404 and "no segment of that name" in missing.text


async def _wait_for_export(c: ConsoleClient, export_row: str) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        history = (await c.get("/exports/history")).text
        if "status-running" not in history:
            return history
        await asyncio.sleep(0.2)
    raise AssertionError(f"export {export_row} still running")


async def test_a_marketer_exports_a_segment_to_s3(console: Running) -> None:
    shop = console.shop
    async with ConsoleClient(console.url) as c:
        await c.sign_in(SECRET["marketer"])
        await c.get("/exports")
        started = await c.post("/exports", {"segment": "high_value", "format": "csv"})
        assert started.status == 303 and started.headers["Location"] == "/exports"
        history = await _wait_for_export(c, "high_value")
    key = f"segments/high_value/{shop.generation}/csv.csv"
    body = s3_client(shop.endpoint).get_object(Bucket=shop.bucket, Key=key)["Body"].read()
    # Every other member of high_value opted in (tests/recsvc/seed.py).
    assert body.decode().count("@example.com") == 120
    assert f"s3://{shop.bucket}/{key}" in history and "mark" in history
    assert "status-done" in history and ">120" in history
    items = dynamodb_client(shop.endpoint).query(
        TableName=shop.table, KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": EXPORTS_PK}})["Items"]
    done = [i for i in items if i["status"]["S"] == "done"]
    assert done and done[-1]["who"]["S"] == "mark" and done[-1]["members"]["N"] == "120"
    assert "expires_at" not in done[-1]  # the history outlives the generations


async def test_a_bad_export_request_says_what_is_wrong(console: Running) -> None:
    async with ConsoleClient(console.url) as c:
        await c.sign_in(SECRET["marketer"])
        await c.get("/exports")
        bad_format = await c.post("/exports", {"segment": "high_value", "format": "xlsx"})
        unknown = await c.post("/exports", {"segment": "nope", "format": "csv"})
        no_import = await c.post("/exports", {"segment": "high_value", "format": "pinpoint-csv",
                                              "start_import": "on"})
    assert bad_format.status == 400 and "format: must be one of" in bad_format.text
    assert unknown.status == 400 and "not a segment of the served generation" in unknown.text
    assert no_import.status == 400 and "no pinpoint import job is configured" in no_import.text


async def test_a_lookup_is_audited_before_it_reads(
    console: Running, console_output: object
) -> None:
    shop = console.shop
    async with ConsoleClient(console.url) as c:
        await c.sign_in(SECRET["admin"])
        await c.get("/lookup")
        page = await c.post("/lookup", {"user_id": "u0003"})
    assert page.status == 200
    assert "high_value" in page.text and "recency_days" in page.text
    # The service's answer for the shopper: the batch list's products (P030..P059).
    served = re.search(r'<ol class="recs" id="served-recs">(.*?)</ol>', page.text, re.S)
    assert served and re.search(r"<code>P0[3-5]\d</code>", served.group(1))
    items = dynamodb_client(shop.endpoint).query(
        TableName=shop.table, KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": AUDIT_PK}})["Items"]
    assert any(i["who"]["S"] == "ada" and i["user_id"]["S"] == "u0003" for i in items)
    assert re.search(r'<td>ada</td><td><code>u0003</code></td>', page.text)
    log = console.proc.output()
    lines = [json.loads(line) for line in log.splitlines()
             if line.startswith("{") and '"msg": "lookup"' in line]
    assert lines and lines[-1]["who"] == "ada"
    assert "u0003" not in log  # the log carries a digest, never the id


async def test_live_figures_come_from_the_service_s_metrics(
    console: Running, recsvc: tuple[str, str]
) -> None:
    target, _ = recsvc

    async def live_page(c: ConsoleClient, done: Callable[[str], object]) -> str:
        deadline = time.monotonic() + 30
        while True:
            text = (await c.get("/live")).text
            if done(text):
                return text
            assert time.monotonic() < deadline, text
            await asyncio.sleep(0.3)

    def ours_seen(text: str) -> bool:
        # The window may also hold other tests' calls: wait for the fallback answers of
        # "nobody" below (every 4th call).
        found = re.search(r'data-figure="fallback">([\d.]+)%<', text)
        return bool(found and float(found.group(1)) > 0)

    async with ConsoleClient(console.url) as c:
        await c.sign_in(SECRET["viewer"])
        # Two scrapes before the calls: the window's first sample predates them.
        await live_page(c, lambda text: 'data-figure="calls"' in text)
    async with grpc.aio.insecure_channel(target) as channel:
        from recsvc.api.v1 import recommender_pb2_grpc as rgrpc

        stub = rgrpc.RecommenderStub(channel)
        for n in range(40):
            await stub.Recommend(recommend_request(f"u{n % 5:04d}" if n % 4 else "nobody", 5),
                                 timeout=5)
    async with ConsoleClient(console.url) as c:
        await c.sign_in(SECRET["viewer"])
        live = await live_page(c, ours_seen)
    calls = re.search(r'data-figure="calls">([\d.]+)<', live)
    assert calls and float(calls.group(1)) > 0
    fallback = re.search(r'data-figure="fallback">([\d.]+)%<', live)
    assert fallback and 0 < float(fallback.group(1)) < 100  # "nobody" got the fallback
    assert re.search(r'data-figure="p99">[\d.]+ ms<', live)
    assert re.search(r'data-figure="hit">[\d.]+%<', live)
