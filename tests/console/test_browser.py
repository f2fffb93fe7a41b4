"""The console in a real browser: Playwright driving Debian's chromium (installed by
.ci/run; Playwright never downloads a browser here)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from recsvc.console.readers.records import AUDIT_PK
from tests.conftest import dynamodb_client, s3_client
from tests.console.conftest import SECRET, SUMMARIES, Running, emails_in

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("TEST_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), (
        f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium; "
        ".ci/run does) or set TEST_CHROMIUM")
    with sync_playwright() as pw:
        # Chromium's sandbox needs an unprivileged user; CI runs as root.
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=args)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # A 403 page the test asked for is logged as a failed load; anything else is a fault.
    page.on("console", lambda m: errors.append(m.text)
            if m.type == "error" and "status of 403" not in m.text else None)
    yield page
    context.close()
    assert not errors, errors  # no script error, nothing blocked by the CSP


def sign_in(page: Page, url: str, role: str, path: str = "/") -> None:
    page.goto(url + path)
    expect(page).to_have_url(re.compile(r"/signin\?next="))
    page.fill("input[name=token]", SECRET[role])
    page.click("form[action='/signin'] button[type=submit]")
    page.wait_for_load_state()


def drawn_points(page: Page, canvas: str) -> int:
    page.wait_for_selector(f"canvas#{canvas}[data-rendered='1']")
    return int(page.evaluate(
        """id => Chart.getChart(document.getElementById(id)).data.datasets
             .reduce((n, d) => n + d.data.filter(v => v !== null).length, 0)""", canvas))


def test_sign_in_and_the_overview_chart_renders_with_data(page: Page, console: Running) -> None:
    sign_in(page, console.url, "viewer")
    expect(page.locator("h1")).to_have_text("Overview")
    expect(page.locator("header .who")).to_contain_text("vera")
    assert drawn_points(page, "quality") == 2 * SUMMARIES
    assert drawn_points(page, "counts") > 0
    expect(page.get_by_text(console.shop.generation).first).to_be_visible()


def test_a_segment_page_shows_its_size_history(page: Page, console: Running) -> None:
    sign_in(page, console.url, "viewer")
    page.click("nav >> text=Segments")
    page.click("a[href='/segments/high_value']")
    expect(page.locator("h1")).to_have_text("high_value")
    assert drawn_points(page, "segment-size") == 2 * SUMMARIES  # size and reachable


def test_a_marketer_exports_a_segment(page: Page, console: Running) -> None:
    shop = console.shop
    sign_in(page, console.url, "marketer", "/segments/lapsed")
    page.click("text=Export this segment")
    expect(page.locator("select[name=segment]")).to_have_value("lapsed")
    page.select_option("select[name=format]", "csv")
    page.click("form[action='/exports'] button[type=submit]")
    row = page.locator("#history tbody tr").first
    # htmx refreshes the history until the export is done.
    expect(row.locator("td.status-done")).to_be_visible(timeout=30_000)
    expect(row).to_contain_text("mark")
    expect(row).to_contain_text("lapsed")
    expect(row).to_contain_text(shop.generation)
    key = f"segments/lapsed/{shop.generation}/csv.csv"
    expect(row.locator("td.file")).to_have_text(f"s3://{shop.bucket}/{key}")
    head = s3_client(shop.endpoint).head_object(Bucket=shop.bucket, Key=key)
    assert head["ContentLength"] > 0


def test_a_viewer_gets_403_on_export_and_sees_no_address(page: Page, console: Running) -> None:
    sign_in(page, console.url, "viewer")
    assert page.locator("nav a[href='/exports']").count() == 0
    response = page.goto(console.url + "/exports")
    assert response is not None and response.status == 403
    expect(page.locator("h1")).to_have_text("Forbidden")
    visited = ["/exports"]
    for path in ("/", "/segments", "/segments/high_value", "/segments/lapsed", "/lookup"):
        page.goto(console.url + path)
        page.wait_for_load_state("networkidle")
        assert not emails_in(page.content()), path
        assert "***@" not in page.content(), path  # not even masked ones
        visited.append(path)
    assert len(visited) == 6


def test_a_lookup_is_in_the_audit_log(page: Page, console: Running) -> None:
    shop = console.shop
    sign_in(page, console.url, "admin", "/lookup")
    page.fill("input[name=user_id]", "u0007")
    page.click("form[action='/lookup'] button[type=submit]")
    expect(page.locator("#result h2")).to_contain_text("u0007")
    expect(page.locator("#served-recs li").first).to_be_visible()
    expect(page.locator("#audit tbody tr").first).to_contain_text("ada")
    expect(page.locator("#audit tbody tr").first).to_contain_text("u0007")
    items = dynamodb_client(shop.endpoint).query(
        TableName=shop.table, KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": AUDIT_PK}})["Items"]
    assert any(i["user_id"]["S"] == "u0007" and i["who"]["S"] == "ada" for i in items)
    assert not emails_in(page.content())
