"""recsvc fixtures: a published generation on moto and real gRPC servers on 127.0.0.1:0."""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest

from generation import GenerationData
from loopback.processes import Proc
from loopback.waiting import poll_for
from recsvc.cache import Cache, InProcessCache
from recsvc.errors import StoreUnavailable
from recsvc.server.app import build_server, settle_heap
from recsvc.server.graph import ServiceGraph, build_graph
from recsvc.settings import Settings
from recsvc.store import ProfileStore, open_store
from tests.conftest import create_table, dynamodb_client, unique
from tests.recsvc import seed

TOKEN = "s3cret-token"


@dataclass
class Published:
    endpoint: str
    table: str
    data: GenerationData

    @property
    def generation(self) -> str:
        return self.data.manifest.generation


@pytest.fixture(scope="module")
def published(moto_endpoint: str) -> Iterator[Published]:
    """One generation on moto, shared by a module's tests (they only read it)."""
    table = unique("served")
    create_table(moto_endpoint, table)
    data = seed.sample_generation()
    seed.publish_to(moto_endpoint, table, data)
    yield Published(moto_endpoint, table, data)
    dynamodb_client(moto_endpoint).delete_table(TableName=table)


@dataclass
class Running:
    port: int
    graph: ServiceGraph
    settings: Settings
    channel: grpc.aio.Channel

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"


StartServer = Callable[..., Awaitable[Running]]


@pytest.fixture
async def start_server(published: Published) -> AsyncIterator[StartServer]:
    """start(store=None, cache=None, **settings) -> Running: build_server on 127.0.0.1:0
    over the published table (unless given another store), with an in-process cache
    (unless given another), and a channel to it. All stopped after the test."""
    running: list[tuple[grpc.aio.Server, Running, list[Any]]] = []

    async def start(
        store: ProfileStore | None = None, cache: Cache | None = None, **overrides: Any
    ) -> Running:
        settings = Settings(**{
            "host": "127.0.0.1", "port": 0, "table": published.table,
            "dynamodb_endpoint_url": published.endpoint, "segment_tokens": TOKEN,
            # moto runs in a thread of the test process and shares its GIL: one request
            # can stall past production's 1 s. Tests of timeouts set their own.
            "store_timeout_s": 5.0,
            **overrides,
        })
        owned: list[Any] = []
        if store is None:
            store = await open_store(settings)
            owned.append(store)
        if cache is None:
            cache = InProcessCache(settings.memory_cache_entries)
            owned.append(cache)
        graph = build_graph(settings, store, cache)
        server, port = await build_server(settings, graph)
        await graph.start()
        with contextlib.suppress(StoreUnavailable):  # as serve() does: warm, else serve anyway
            await graph.recommender.warm()
        await server.start()
        settle_heap()  # as serve() does once started
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        r = Running(port, graph, settings, channel)
        running.append((server, r, owned))
        return r

    yield start
    for server, r, owned in reversed(running):
        await r.channel.close()
        await server.stop(None)
        await r.graph.aclose()
        for resource in owned:
            await resource.aclose()


@pytest.fixture
async def server(start_server: StartServer) -> Running:
    return await start_server()


def auth(token: str = TOKEN) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def start_recsvc_process(
    published: Published, name: str, **env: str
) -> tuple[Proc, str]:
    """`python -m recsvc serve` as a subprocess over the published table (in-process
    cache, port 0), once it prints its address; ``env`` adds or overrides RECSVC_*."""
    proc = Proc(
        [sys.executable, "-m", "recsvc", "serve"],
        env={
            "RECSVC_HOST": "127.0.0.1",
            "RECSVC_PORT": "0",
            "RECSVC_TABLE": published.table,
            "RECSVC_DYNAMODB_ENDPOINT_URL": published.endpoint,
            "RECSVC_CACHE": "memory",
            **env,
        },
        name=name,
    )
    found = poll_for(
        lambda: re.search(r"recsvc listening on (\S+)", proc.output()) or not proc.alive(),
        30, "the server to listen",
    )
    if not isinstance(found, re.Match) or not proc.alive():
        proc.stop()
        raise AssertionError(f"recsvc did not start:\n{proc.output()[-3000:]}")
    return proc, found.group(1)
