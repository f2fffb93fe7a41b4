"""Session values kept in-process while Redis reports them unchanged: a Track through one
replica counts on the next call to another, a shopper's repeated calls cost no Redis
round trip, and a lost invalidation connection falls back to reading Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis

from recsvc.api.v1 import recommender_pb2 as rpb
from recsvc.api.v1 import recommender_pb2_grpc as rpb_grpc
from recsvc.cache.redis import RedisCache
from recsvc.sessions import Shopper
from recsvc.sessions.mirror import SessionMirror
from tests.conftest import unique
from tests.recsvc import seed
from tests.recsvc.conftest import Published, Running, StartServer

REDIS_URL = "redis://127.0.0.1:6379/0"
VIEWED = seed.product(3)


async def until(condition, timeout_s: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


@pytest.fixture
async def replicas(start_server: StartServer) -> AsyncIterator[tuple[Running, Running]]:
    """Two servers sharing one Redis under one prefix, as two tasks of a service."""
    prefix = unique("m")
    caches = [RedisCache.from_url(REDIS_URL, 1.0) for _ in range(2)]
    running = [await start_server(cache=c, cache_prefix=prefix) for c in caches]
    for r in running:
        mirror = r.graph.sessions.mirror  # type: ignore[attr-defined]
        await until(lambda m=mirror: m.active)
    yield running[0], running[1]
    for c in caches:
        await c.aclose()


async def test_a_track_through_one_replica_counts_on_the_next_call_to_another(
    replicas: tuple[Running, Running], published: Published,
) -> None:
    a, b = (rpb_grpc.RecommenderStub(r.channel) for r in replicas)
    mirror_b: SessionMirror = replicas[1].graph.sessions.mirror  # type: ignore[attr-defined]
    user = seed.user(2)
    request = rpb.RecommendRequest(user_id=user, k=10)
    before = await b.Recommend(request, timeout=5)
    await b.Recommend(request, timeout=5)  # the events (none) are now known on b
    keys = replicas[1].graph.sessions.keys.of(Shopper(user_id=user))
    assert mirror_b.peek(keys) == {}
    event = rpb.Event(event_id=unique("e"), event_type=rpb.VIEW, product_id=VIEWED,
                      user_id=user)
    await a.Track(rpb.TrackRequest(events=[event]), timeout=5)
    # b learns of the change from Redis, not from a read of its own.
    await until(lambda: mirror_b.peek(keys) is None)
    after = await b.Recommend(request, timeout=5)
    related = {i.product_id for n in published.data.neighbours if n.product_id == VIEWED
               for i in n.items}
    assert [i.product_id for i in after.items] != [i.product_id for i in before.items]
    assert any(i.product_id in related and VIEWED in i.reason for i in after.items)


async def test_repeated_calls_of_a_known_shopper_cost_no_redis_round_trip(
    replicas: tuple[Running, Running],
) -> None:
    b = rpb_grpc.RecommenderStub(replicas[1].channel)
    request = rpb.RecommendRequest(user_id=seed.user(4), k=10,
                                   context=rpb.RecommendContext(viewed_product_id=VIEWED))
    first = await b.Recommend(request, timeout=5)
    counters = replicas[1].graph.aside.counters
    reads = counters["reads"]
    for _ in range(5):
        again = await b.Recommend(request, timeout=5)
        assert again.items == first.items
    assert counters["reads"] == reads  # profile, neighbours in the L1; events in the mirror


async def test_a_lost_invalidation_connection_means_reading_redis_until_it_is_back(
    replicas: tuple[Running, Running],
) -> None:
    b = rpb_grpc.RecommenderStub(replicas[1].channel)
    mirror: SessionMirror = replicas[1].graph.sessions.mirror  # type: ignore[attr-defined]
    request = rpb.RecommendRequest(user_id=seed.user(5), k=10)
    await b.Recommend(request, timeout=5)
    assert len(mirror) > 0
    killed = redis.Redis.from_url(REDIS_URL).client_kill_filter(_type="pubsub")
    assert killed >= 1
    await until(lambda: mirror.counters["reconnects"] >= 1)
    await until(lambda: mirror.active)  # back, and empty: changes in between were unseen
    counters = replicas[1].graph.aside.counters
    reads = counters["reads"]
    await b.Recommend(request, timeout=5)
    assert counters["reads"] == reads + 1


def test_a_read_overtaken_by_a_change_is_not_kept() -> None:
    mirror = SessionMirror(100, "p")
    mirror.active = True
    token = mirror.reading(["k"])
    mirror._invalidated([b"k"])  # the write's invalidation arrives before the read's reply
    mirror.read(token, {"k": b"old"}, ["k"])
    assert mirror.peek(["k"]) is None
    token = mirror.reading(["k"])
    mirror.read(token, {}, ["k"])
    assert mirror.peek(["k"]) == {}  # no events, known
    mirror._invalidated(None)  # FLUSHALL: nothing is known any more
    assert mirror.peek(["k"]) is None
