"""Failure paths for real: Redis at a closed port, DynamoDB gone (moto stopped, closed port)."""

from __future__ import annotations

import time
from functools import partial

import grpc
import pytest

from loopback.aws import moto_server
from loopback.ports import free_port
from recsvc.api.v1 import recommender_pb2 as rpb
from recsvc.api.v1 import recommender_pb2_grpc as rpb_grpc
from recsvc.api.v1 import segments_pb2 as spb
from recsvc.api.v1 import segments_pb2_grpc as spb_grpc
from recsvc.cache import open_cache
from recsvc.cache.redis import RedisCache
from recsvc.requests import recommend_request
from recsvc.settings import Settings
from tests.conftest import create_table
from tests.recsvc import seed
from tests.recsvc.conftest import StartServer, auth
from tests.recsvc.stores import CountingStore

pytestmark = pytest.mark.timeout(60)


# Recommend requests with k=5 unless a test says otherwise.
rec = partial(recommend_request, k=5)


async def test_redis_down_still_answers_from_the_store(start_server: StartServer) -> None:
    dead = await open_cache(Settings(cache="redis", redis_url=f"redis://127.0.0.1:{free_port()}/0"))
    assert isinstance(dead, RedisCache)
    try:
        # No L1: it would answer the second call itself (CACHE), Redis or not.
        r = await start_server(cache=dead, l1_entries=0)
        stub = rpb_grpc.RecommenderStub(r.channel)
        for _ in range(2):
            response = await stub.Recommend(rec("u0001"), timeout=5)
            assert response.source == rpb.SOURCE_STORE and len(response.items) == 5
        assert r.graph.aside.counters["cache_errors"] >= 1
    finally:
        await dead.aclose()


async def test_dynamodb_gone_serves_fallback_lists(start_server: StartServer) -> None:
    with moto_server() as endpoint:  # a dedicated moto, stopped halfway through
        table = "outage"
        create_table(endpoint, table)
        data = seed.sample_generation()
        seed.publish_to(endpoint, table, data)
        r = await start_server(dynamodb_endpoint_url=endpoint, table=table, store_attempts=1)
        stub = rpb_grpc.RecommenderStub(r.channel)
        before = await stub.Recommend(rec("u0001"), timeout=5)
        assert before.source == rpb.SOURCE_STORE
        await r.graph.recommender.warm()  # what serve() does at start-up
    # moto is stopped: every store call now fails to connect.
    for user, category in (("u0002", ""), ("someone-new", ""), ("u0003", "shoes")):
        response = await stub.Recommend(rec(user, category=category), timeout=5)
        assert response.source == rpb.SOURCE_FALLBACK
        assert response.generation == data.manifest.generation
        assert len(response.items) == 5
        if category:
            assert {seed.category_of(i.product_id) for i in response.items} == {category}
    # Once the store has failed a few times in a row it is not even tried for a moment.
    for n in range(8):
        response = await stub.Recommend(rec(f"u{n + 30:04d}"), timeout=5)
        assert response.source == rpb.SOURCE_FALLBACK and len(response.items) == 5
    assert r.graph.aside.counters["store_short_circuits"] >= 1
    # A profile cached before the outage is still served from the cache.
    cached = await stub.Recommend(rec("u0001"), timeout=5)
    assert cached.source == rpb.SOURCE_CACHE
    # Segments have no fallback: UNAVAILABLE (retryable), never INTERNAL.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        [m async for m in spb_grpc.SegmentsStub(r.channel).Segment(
            spb.SegmentRequest(name="lapsed"), timeout=5, metadata=auth())]
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_dynamodb_unreachable_from_the_start_is_unavailable(
    start_server: StartServer,
) -> None:
    r = await start_server(dynamodb_endpoint_url=f"http://127.0.0.1:{free_port()}")
    stub = rpb_grpc.RecommenderStub(r.channel)
    for call in (stub.Recommend(rec("u0001"), timeout=5), stub.Info(rpb.InfoRequest(), timeout=5)):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_client_deadline_is_respected_end_to_end(start_server: StartServer) -> None:
    """A store slower than the caller's deadline: the answer still arrives in time, from
    the fallback lists (the deadline reaches the use case via context.time_remaining)."""
    with seed.memory_store(seed.sample_generation()) as mem:
        store = CountingStore(mem)
        r = await start_server(store=store, store_timeout_s=1.0)
        await r.graph.recommender.warm()
        store.delay_s = 3.0  # slower than both the deadline and store_timeout_s
        stub = rpb_grpc.RecommenderStub(r.channel)
        started = time.monotonic()
        response = await stub.Recommend(rec("u0020"), timeout=0.4)
        assert time.monotonic() - started < 0.4
        assert response.source == rpb.SOURCE_FALLBACK and len(response.items) == 5
