"""Failures under steady load, with real processes stopped and restarted: Redis killed,
DynamoDB (a moto process) frozen, a publish killed halfway, SIGTERM to the server.
Each test loads the server for a few seconds at most."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from functools import partial
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from generation import GenerationData, ScoredItem
from loopback.ports import free_port, port_open
from loopback.processes import Proc
from loopback.waiting import poll_for, wait_until
from profile_engine.publish import new_generation_id
from recsvc.api.v1 import recommender_pb2 as rpb
from recsvc.api.v1 import recommender_pb2_grpc as rpb_grpc
from recsvc.cache import NullCache
from recsvc.cache.redis import RedisCache
from recsvc.requests import recommend_request
from tests.conftest import create_table
from tests.recsvc import seed
from tests.recsvc.conftest import Published, StartServer, start_recsvc_process
from tests.recsvc.load import Load

pytestmark = pytest.mark.timeout(90)

OK = grpc.StatusCode.OK
KNOWN = [seed.user(n) for n in range(40)]


# Recommend requests with k=5 unless a test says otherwise.
rec = partial(recommend_request, k=5)


def sources(calls: list) -> set[int]:  # type: ignore[type-arg]
    return {c.response.source for c in calls if c.response is not None}


# -- Redis ------------------------------------------------------------------------------


def redis_server(port: int) -> Proc:
    """A dedicated redis-server (never the shared one at 6379: this one gets killed)."""
    proc = Proc(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no"], name="redis-dedicated")
    poll_for(lambda: port_open(port) or not proc.alive(), 10, "redis-server to listen")
    assert proc.alive(), proc.output()
    return proc


@pytest.fixture
def redis_port() -> Iterator[int]:
    yield free_port()


async def test_redis_killed_under_load_then_back(
    start_server: StartServer, redis_port: int
) -> None:
    redis = redis_server(redis_port)
    cache = RedisCache.from_url(f"redis://127.0.0.1:{redis_port}/0", timeout_s=0.2)
    load = Load()
    try:
        # No L1: every hit must come from Redis, so its absence shows.
        r = await start_server(cache=cache, l1_entries=0, cache_prefix="failures")
        stub = rpb_grpc.RecommenderStub(r.channel)
        for user in KNOWN:
            await stub.Recommend(rec(user), timeout=5)
        load.start(lambda n: stub.Recommend(rec(KNOWN[n % len(KNOWN)]), timeout=5))
        await asyncio.sleep(0.5)
        assert sources(load.calls) == {rpb.SOURCE_CACHE}

        redis.popen.kill()
        redis.popen.wait(5)
        killed = time.monotonic()
        await asyncio.sleep(1.5)
        down = load.between(killed + 0.3, time.monotonic())
        assert down and sources(down) == {rpb.SOURCE_STORE}

        redis.stop()
        redis = redis_server(redis_port)  # back, empty
        await wait_until(
            lambda: any(c.response is not None and c.response.source == rpb.SOURCE_CACHE
                        for c in load.calls[-20:]),
            5, "answers from Redis again",
        )
        calls = await load.stop()
    finally:
        await load.stop()
        await cache.aclose()
        redis.stop()
    assert {c.code for c in calls} == {OK}, "a call failed while Redis was away"
    assert all(len(c.response.items) == 5 for c in calls)
    assert r.graph.aside.counters["cache_errors"] >= 1


# -- DynamoDB ---------------------------------------------------------------------------


@pytest.fixture
def moto_process() -> Iterator[tuple[Proc, str]]:
    """moto as its own process, so it can be frozen (SIGSTOP: connections hang, the
    nastiest kind of outage) and resumed with its data."""
    port = free_port()
    proc = Proc([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1",
                 "-p", str(port)], name="moto-process")
    try:
        poll_for(lambda: port_open(port) or not proc.alive(), 30, "moto to listen")
        assert proc.alive(), proc.output()
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        proc.signal(signal.SIGCONT)
        proc.stop()


async def test_dynamodb_frozen_under_load_answers_fallback_within_the_deadline(
    start_server: StartServer, moto_process: tuple[Proc, str]
) -> None:
    moto, endpoint = moto_process
    create_table(endpoint, "frozen")
    data = seed.sample_generation()
    seed.publish_to(endpoint, "frozen", data)
    # No cache at all: every call needs the store, so the outage shows on every call.
    # The store timeout (1 s) is longer than the client deadline (0.5 s): the deadline
    # must bound the store call.
    r = await start_server(cache=NullCache(), dynamodb_endpoint_url=endpoint, table="frozen",
                           store_attempts=1, store_timeout_s=1.0)
    await r.graph.recommender.warm()
    stub = rpb_grpc.RecommenderStub(r.channel)
    users = [*KNOWN, "nobody-1", "nobody-2"]
    deadline_s = 0.5
    load = Load()
    try:
        load.start(lambda n: stub.Recommend(rec(users[n % len(users)]), timeout=deadline_s))
        await asyncio.sleep(0.5)
        assert rpb.SOURCE_STORE in sources(load.calls)

        moto.signal(signal.SIGSTOP)
        frozen = time.monotonic()
        await asyncio.sleep(2.0)
        moto.signal(signal.SIGCONT)
        resumed = time.monotonic()
        outage = load.between(frozen + deadline_s, resumed)
        await wait_until(
            lambda: any(c.response is not None and c.response.source == rpb.SOURCE_STORE
                        and c.started > resumed for c in load.calls),
            10, "answers from DynamoDB again",
        )
    finally:
        calls = await load.stop()
    # (started after the freeze, took, code) of any failed call
    bad = [(round(c.started - frozen, 3), round(c.ended - c.started, 3), c.code.name)
           for c in calls if c.code != OK]
    assert not bad
    assert outage and sources(outage) == {rpb.SOURCE_FALLBACK}
    assert all(len(c.response.items) == 5 for c in calls)
    assert all(c.response.generation == data.manifest.generation for c in calls)
    assert max(c.ended - c.started for c in calls) < deadline_s


# -- a publish killed halfway -----------------------------------------------------------


def tagged(data: GenerationData, tag: str) -> GenerationData:
    """The same shop with every product id prefixed by ``tag``: an answer mixing two
    generations shows as items with two prefixes."""

    def p(pid: str) -> str:
        return f"{tag}{pid}"

    def items(xs: tuple[ScoredItem, ...]) -> tuple[ScoredItem, ...]:
        return tuple(i._replace(product_id=p(i.product_id)) for i in xs)

    return GenerationData(
        manifest=data.manifest,
        profiles=[replace(x, recommendations=items(x.recommendations),
                          purchased=tuple(map(p, x.purchased)), recent=tuple(map(p, x.recent)))
                  for x in data.profiles],
        neighbours=[replace(n, product_id=p(n.product_id), items=items(n.items))
                    for n in data.neighbours],
        popular=[replace(x, items=items(x.items)) for x in data.popular],
        segment_members=list(data.segment_members),
    )


KILLED_PUBLISH = """
import logging, sys
from tests.recsvc import seed
from tests.recsvc.test_failures_under_load import tagged
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
data = tagged(seed.sample_generation(sys.argv[3]), "B")
seed.publish_to(sys.argv[1], sys.argv[2], data)
"""


async def test_publish_killed_halfway_under_load_never_mixes_generations(
    start_server: StartServer, published: Published, table_factory: object
) -> None:
    endpoint = published.endpoint
    table = table_factory(endpoint)  # type: ignore[operator]
    first = tagged(seed.sample_generation(), "A")
    seed.publish_to(endpoint, table, first)
    r = await start_server(table=table, generation_refresh_s=0.05)
    stub = rpb_grpc.RecommenderStub(r.channel)
    tags = {first.manifest.generation: "A"}

    def request(n: int) -> rpb.RecommendRequest:
        gen_tag = "C" if len(tags) > 1 and n % 2 else "A"
        viewed = f"{gen_tag}{seed.product(n % seed.N_PRODUCTS)}"
        user = seed.user(n % 60) if n % 5 else f"new-{n}"
        return rec(user, k=8, viewed_product_id=viewed,
                   category=seed.CATEGORIES[n % 3] if n % 7 == 0 else "")

    load = Load()
    try:
        load.start(lambda n: stub.Recommend(request(n), timeout=5))
        await asyncio.sleep(0.3)
        # A publish of generation B, killed right after its profiles are written.
        half = new_generation_id()
        proc = subprocess.Popen(
            [sys.executable, "-c", KILLED_PUBLISH, endpoint, table, half],
            stderr=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2],
            env={**os.environ},
        )
        assert proc.stderr is not None
        killed = False
        try:
            for line in proc.stderr:
                if "profiles items of generation" in line:
                    proc.kill()
                    killed = True
                    break
        finally:
            proc.kill()
            proc.wait(10)
        assert killed, "the publish ended before it could be killed halfway"
        await asyncio.sleep(0.5)  # many pointer refreshes
        third = tagged(seed.sample_generation(), "C")
        tags[third.manifest.generation] = "C"
        await asyncio.to_thread(seed.publish_to, endpoint, table, third)
        await wait_until(
            lambda: any(c.response is not None
                        and c.response.generation == third.manifest.generation
                        for c in load.calls[-20:]),
            10, "the service to move to the completed generation",
        )
        await asyncio.sleep(0.3)
    finally:
        calls = await load.stop()
    assert {c.code for c in calls} == {OK}
    served = {c.response.generation for c in calls}
    assert served == set(tags), f"served {served}, expected {set(tags)} (never {half})"
    for c in calls:
        tag = tags[c.response.generation]
        assert c.response.items
        assert {i.product_id[0] for i in c.response.items} == {tag}, (
            f"an answer of {c.response.generation} mixes generations: "
            f"{[i.product_id for i in c.response.items]}"
        )


# -- SIGTERM ----------------------------------------------------------------------------

GRACE_S = 5.0
DRAIN_DELAY_S = 0.5


async def test_sigterm_under_load_drains_then_refuses_cleanly(published: Published) -> None:
    proc, target = start_recsvc_process(
        published, "recsvc-sigterm-load",
        RECSVC_GRACE_S=str(GRACE_S), RECSVC_DRAIN_DELAY_S=str(DRAIN_DELAY_S),
    )
    try:
        async with grpc.aio.insecure_channel(target) as channel, \
                grpc.aio.insecure_channel(target) as health_channel:
            stub = rpb_grpc.RecommenderStub(channel)
            watch = health_pb2_grpc.HealthStub(health_channel).Watch(
                health_pb2.HealthCheckRequest(service=""))
            assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
            load = Load()
            load.start(lambda n: stub.Recommend(rec(KNOWN[n % len(KNOWN)]), timeout=5))
            await asyncio.sleep(0.5)
            proc.signal(signal.SIGTERM)
            signalled = time.monotonic()
            status = await asyncio.wait_for(watch.read(), 5)
            not_serving = time.monotonic()
            assert status.status == health_pb2.HealthCheckResponse.NOT_SERVING
            # No cancel here: the server ends the watch, as it must for a load balancer's.
            assert await asyncio.wait_for(watch.read(), 5) is grpc.aio.EOF
            await wait_until(lambda: not proc.alive(), GRACE_S + DRAIN_DELAY_S + 5,
                             "the server to exit")
            exited = time.monotonic()
            await asyncio.sleep(0.3)  # calls after the exit: refused
            calls = await load.stop()
    finally:
        code = proc.stop()
    assert code == 0, proc.output()
    # Past the grace, something held the drain: the shutdown lines say what was in flight.
    shutdown_log = [line for line in proc.output().splitlines() if "recsvc.access" not in line]
    assert exited - signalled < GRACE_S + DRAIN_DELAY_S, "\n".join(shutdown_log[-30:])
    codes = {c.code for c in calls}
    assert codes <= {OK, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED}, codes
    # A call reaching the server in the very instant it stops accepting is cancelled by
    # grpc core (never handled) instead of refused; only then, never later or earlier.
    cancelled = [c for c in calls if c.code == grpc.StatusCode.CANCELLED]
    assert len(cancelled) <= 8 and all(c.started > not_serving for c in cancelled)
    # Health went NOT_SERVING first: everything started until then (and during the drain
    # delay) was answered; refusals only came after.
    assert all(c.code == OK for c in calls if c.started <= not_serving)
    first_refused = min((c.started for c in calls if c.code != OK), default=None)
    assert first_refused is not None and first_refused > not_serving
    assert any(c.code == OK and c.started > not_serving for c in calls), "no drain delay"
    assert "shut down cleanly" in proc.output()
