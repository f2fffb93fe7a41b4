"""Console fixtures: a published generation with its summaries on moto, an export bucket,
a real recsvc process (gRPC + /metrics) and `recsvc console` processes over them."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from generation import GenerationData
from loopback.console import history, put_summaries, start_console
from loopback.ports import ports_outside_ephemeral
from loopback.processes import Proc
from tests.conftest import create_table, dynamodb_client, s3_client, unique
from tests.recsvc import seed

# name:role:token entries of RECSVC_CONSOLE_TOKENS
TOKENS = {
    "viewer": "vera", "marketer": "mark", "admin": "ada",
}
SECRET = {role: f"{role}-token-{'x' * 16}" for role in TOKENS}
SUMMARIES = 30


@dataclass
class Shop:
    endpoint: str
    table: str
    bucket: str
    data: GenerationData

    @property
    def generation(self) -> str:
        return self.data.manifest.generation


@dataclass
class Running:
    url: str
    proc: Proc
    shop: Shop
    metrics_url: str = ""


@pytest.fixture(scope="module")
def shop(moto_endpoint: str) -> Iterator[Shop]:
    """The recsvc tests' sample generation (segments high_value with 240 members with
    addresses, lapsed) served, with SUMMARIES summaries ending at it."""
    table, bucket = unique("console"), unique("exports")
    create_table(moto_endpoint, table)
    s3_client(moto_endpoint).create_bucket(Bucket=bucket)
    data = seed.sample_generation()
    seed.publish_to(moto_endpoint, table, data)
    put_summaries(dynamodb_client(moto_endpoint), table,
                  history(SUMMARIES, 2, last=data.manifest.generation))
    yield Shop(moto_endpoint, table, bucket, data)
    dynamodb_client(moto_endpoint).delete_table(TableName=table)


def console_env(shop: Shop, **extra: str) -> dict[str, str]:
    return {
        "RECSVC_CONSOLE_TABLE": shop.table,
        "RECSVC_CONSOLE_DYNAMODB_ENDPOINT_URL": shop.endpoint,
        "RECSVC_CONSOLE_S3_ENDPOINT_URL": shop.endpoint,
        "RECSVC_CONSOLE_EXPORT_URI": f"s3://{shop.bucket}/segments",
        "RECSVC_CONSOLE_TOKENS": ",".join(
            f"{name}:{role}:{SECRET[role]}" for role, name in TOKENS.items()),
        "RECSVC_CONSOLE_SESSION_SECRET": "test-session-secret",
        "RECSVC_CONSOLE_METRICS_INTERVAL_S": "0.5",
        **extra,
    }


@pytest.fixture(scope="module")
def recsvc(shop: Shop) -> Iterator[tuple[str, str]]:
    """A real `recsvc serve` over the shop's table: (gRPC target, /metrics URL)."""
    metrics_port = ports_outside_ephemeral()
    proc = Proc([sys.executable, "-m", "recsvc", "serve"], env={
        "RECSVC_HOST": "127.0.0.1", "RECSVC_PORT": "0", "RECSVC_TABLE": shop.table,
        "RECSVC_DYNAMODB_ENDPOINT_URL": shop.endpoint, "RECSVC_CACHE": "memory",
        "RECSVC_METRICS_PORT": str(metrics_port), "RECSVC_STORE_TIMEOUT_S": "5",
    }, name="recsvc-for-console")
    try:
        target = proc.wait_for(r"recsvc listening on (\S+)", 60).group(1)
        yield target, f"http://127.0.0.1:{metrics_port}/metrics"
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def console(shop: Shop, recsvc: tuple[str, str]) -> Iterator[Running]:
    """The console over the shop, the service and its metrics."""
    target, metrics_url = recsvc
    proc, url = start_console(console_env(
        shop, RECSVC_CONSOLE_RECSVC_TARGET=target, RECSVC_CONSOLE_METRICS_URLS=metrics_url))
    yield Running(url, proc, shop, metrics_url)
    proc.stop()


@pytest.fixture
def console_output(console: Running) -> Callable[[], str]:
    return console.proc.output


def emails_in(text: str) -> list[str]:
    """Full e-mail addresses in a page (masked ones, j***@e***.com, do not count)."""
    return [m for m in re.findall(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", text) if "*" not in m]
