"""Track and session memory end to end on a real server: events count on the very next
call (known users and anonymous sessions), retries change nothing, bad events are
rejected alone; SimilarItems answers from item neighbours with reasons."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest

from recsvc.api.v1 import recommender_pb2 as rpb
from recsvc.api.v1 import recommender_pb2_grpc as rpb_grpc
from recsvc.cache import InProcessCache
from recsvc.cache.redis import RedisCache
from recsvc.requests import recommend_request
from recsvc.sessions import Shopper
from tests.conftest import unique
from tests.recsvc import seed
from tests.recsvc.conftest import Published, Running, StartServer

VIEWED = seed.product(3)


def neighbours_of(published: Published, pid: str) -> set[str]:
    found = next(n for n in published.data.neighbours if n.product_id == pid)
    return {i.product_id for i in found.items}


def event(event_id: str, event_type: int, product: str = "", **fields: Any) -> rpb.Event:
    return rpb.Event(event_id=event_id, event_type=event_type, product_id=product, **fields)


@pytest.fixture(params=["memory", "redis"])
def cache_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def running(start_server: StartServer, cache_kind: str) -> AsyncIterator[Running]:
    if cache_kind == "memory":
        yield await start_server(cache=InProcessCache(10_000))
        return
    # Each test its own key prefix: sessions of one test never meet another's.
    cache = RedisCache.from_url("redis://127.0.0.1:6379/0", 1.0)
    yield await start_server(cache=cache, cache_prefix=unique("t"))
    await cache.aclose()


@pytest.fixture
def stub(running: Running) -> Iterator[rpb_grpc.RecommenderStub]:
    yield rpb_grpc.RecommenderStub(running.channel)


async def track(stub: rpb_grpc.RecommenderStub, *events: rpb.Event) -> rpb.TrackResponse:
    response: rpb.TrackResponse = await stub.Track(rpb.TrackRequest(events=events), timeout=5)
    return response


def top(response: rpb.RecommendResponse) -> list[str]:
    return [i.product_id for i in response.items]


@pytest.mark.parametrize("who", ["known", "anonymous"])
async def test_a_view_counts_on_the_next_call(
    stub: rpb_grpc.RecommenderStub, published: Published, who: str
) -> None:
    shopper = ({"user_id": seed.user(1)} if who == "known"
               else {"session_id": unique("visitor")})
    before = await stub.Recommend(rpb.RecommendRequest(k=10, **shopper), timeout=5)
    tracked = await track(stub, event(unique("e"), rpb.VIEW, VIEWED, **shopper))
    assert [s.outcome for s in tracked.statuses] == [rpb.EventStatus.ACCEPTED]
    assert tracked.sessions_updated
    after = await stub.Recommend(rpb.RecommendRequest(k=10, **shopper), timeout=5)
    related = [i for i in after.items if i.product_id in neighbours_of(published, VIEWED)]
    assert len(related) >= 3, (top(before), top(after))
    assert all(VIEWED in i.reason for i in related), [i.reason for i in related]
    assert VIEWED not in top(after)  # just seen: not offered again
    assert after.recommendation_id and after.recommendation_id != before.recommendation_id
    assert not after.without_session
    if who == "anonymous":
        assert before.source == rpb.SOURCE_FALLBACK
        assert after.source == rpb.SOURCE_SESSION


async def test_a_product_bought_never_comes_back(stub: rpb_grpc.RecommenderStub) -> None:
    user = seed.user(2)
    first = top(await stub.Recommend(recommend_request(user, k=10), timeout=5))
    bought = first[0]
    await track(stub, event(unique("e"), rpb.PURCHASE, bought, user_id=user, quantity=1))
    again = top(await stub.Recommend(recommend_request(user, k=10), timeout=5))
    assert bought not in again


async def test_retried_event_ids_change_nothing(
    stub: rpb_grpc.RecommenderStub, running: Running
) -> None:
    session = unique("visitor")
    events = [event(unique("e"), rpb.VIEW, seed.product(n), session_id=session)
              for n in (3, 4, 5)]
    first = await track(stub, *events)
    assert {s.outcome for s in first.statuses} == {rpb.EventStatus.ACCEPTED}
    state = await running.graph.recommender.session_state(Shopper(session_id=session))
    counted = dict(running.graph.intake.counters)
    offered = running.graph.sink.counters["offered"]
    again = await track(stub, *events)
    assert [s.outcome for s in again.statuses] == [rpb.EventStatus.DUPLICATE] * 3
    assert [s.event_id for s in again.statuses] == [e.event_id for e in events]
    assert await running.graph.recommender.session_state(Shopper(session_id=session)) == state
    assert running.graph.intake.counters["view_accepted"] == counted["view_accepted"]
    assert running.graph.sink.counters["offered"] == offered  # nothing delivered twice


async def test_each_bad_event_is_rejected_alone(stub: rpb_grpc.RecommenderStub) -> None:
    session = unique("visitor")
    good = event(unique("e"), rpb.VIEW, VIEWED, session_id=session)
    bad = [
        (event("", rpb.VIEW, VIEWED, session_id=session), "event_id"),
        (event(unique("e"), rpb.VIEW, VIEWED), "user_id"),
        (event(unique("e"), rpb.VIEW, session_id=session), "product_id"),
        (event(unique("e"), 99, VIEWED, session_id=session), "event_type"),
        (event(unique("e"), rpb.IMPRESSION, session_id=session), "shown_product_ids"),
        (event(unique("e"), rpb.SEARCH, session_id=session), "query"),
        (event(unique("e"), rpb.PURCHASE, VIEWED, session_id=session, quantity=-1), "quantity"),
        (event(unique("e"), rpb.PURCHASE, VIEWED, session_id=session, price=-2.0), "price"),
        (event(unique("e"), rpb.VIEW, "P\t1", session_id=session), "product_id"),
        (event(unique("e"), rpb.VIEW, VIEWED, session_id=session, client_time_ms=1_000),
         "client_time_ms"),
        (event(unique("e"), rpb.VIEW, VIEWED, session_id="s" * 129), "session_id"),
    ]
    response = await track(stub, good, *(e for e, _ in bad))
    assert response.statuses[0].outcome == rpb.EventStatus.ACCEPTED
    for status, (_, field) in zip(response.statuses[1:], bad, strict=True):
        assert status.outcome == rpb.EventStatus.REJECTED
        assert status.reason.startswith(f"{field}:"), status.reason
    searched = await track(stub, event(unique("e"), rpb.SEARCH, session_id=session, query="hat"),
                           event(unique("e"), rpb.IMPRESSION, session_id=session,
                                 shown_product_ids=[VIEWED, seed.product(4)]))
    assert {s.outcome for s in searched.statuses} == {rpb.EventStatus.ACCEPTED}


@pytest.mark.parametrize("count", [0, 101, "oversized"])
async def test_a_bad_envelope_fails_the_call(
    stub: rpb_grpc.RecommenderStub, count: int | str
) -> None:
    if count == "oversized":  # 100 impressions of 12 long ids: ~160 KB
        shown = [f"P{n:0127d}" for n in range(12)]
        events = [event(unique("e"), rpb.IMPRESSION, session_id="s", shown_product_ids=shown)
                  for _ in range(100)]
    else:
        events = [event(unique("e"), rpb.VIEW, VIEWED, session_id="s") for _ in range(int(count))]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await track(stub, *events)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "events" in (err.value.details() or "")


async def test_similar_items_from_neighbours_with_reasons(
    stub: rpb_grpc.RecommenderStub, published: Published
) -> None:
    response = await stub.SimilarItems(
        rpb.SimilarItemsRequest(product_ids=[VIEWED], k=5), timeout=5)
    assert len(response.items) == 5
    assert VIEWED not in top(response)
    assert set(top(response)) <= neighbours_of(published, VIEWED)
    assert all(i.reason == f"similar to {VIEWED}" for i in response.items)
    assert response.recommendation_id
    in_category = await stub.SimilarItems(rpb.SimilarItemsRequest(
        product_ids=[VIEWED], k=3, context=rpb.RecommendContext(category="hats")), timeout=5)
    assert all(seed.category_of(p) == "hats" for p in top(in_category))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.SimilarItems(rpb.SimilarItemsRequest(k=5), timeout=5)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "product_ids" in (err.value.details() or "")


async def test_signed_in_shopper_keeps_the_session(stub: rpb_grpc.RecommenderStub,
                                                   published: Published) -> None:
    session, user = unique("visitor"), seed.user(5)
    await track(stub, event(unique("e"), rpb.VIEW, VIEWED, session_id=session))
    signed_in = await stub.Recommend(
        rpb.RecommendRequest(user_id=user, session_id=session, k=10), timeout=5)
    related = [i for i in signed_in.items if i.product_id in neighbours_of(published, VIEWED)]
    assert len(related) >= 3


async def test_memory_keeps_the_newest_events_for_its_ttl(
    start_server: StartServer, cache_kind: str
) -> None:
    """Bounded per shopper (newest kept), with the TTL of its kind: sessions expire sooner
    than signed-in customers."""
    prefix = unique("t")
    cache = (RedisCache.from_url("redis://127.0.0.1:6379/0", 1.0) if cache_kind == "redis"
             else InProcessCache(10_000))
    try:
        r = await start_server(cache=cache, cache_prefix=prefix, session_events=5,
                               session_ttl_s=60.0, user_session_ttl_s=3600.0)
        stub = rpb_grpc.RecommenderStub(r.channel)
        session, user = unique("visitor"), seed.user(7)
        start_ms = int(time.time() * 1000) - 60_000
        for n in range(8):  # one call per event: arrival order is event order
            await track(stub, event(unique("e"), rpb.VIEW, seed.product(n), session_id=session,
                                    client_time_ms=start_ms + n))
        await track(stub, event(unique("e"), rpb.VIEW, VIEWED, user_id=user))
        state = await r.graph.recommender.session_state(Shopper(session_id=session))
        assert state is not None
        kept = [line.split(b"\t")[1].decode() for line in state.split(b"\n")]
        assert kept == [seed.product(n) for n in (7, 6, 5, 4, 3)]
        if isinstance(cache, RedisCache):
            keys = r.graph.sessions.keys
            client = cache._client  # noqa: SLF001 - reading TTLs the cache API hides
            session_ttl = await client.pttl(keys.value("s", session))
            user_ttl = await client.pttl(keys.value("u", user))
            assert 0 < session_ttl <= 60_000 < user_ttl <= 3_600_000
    finally:
        await cache.aclose()


async def test_metrics_count_events_by_type_and_outcome(
    stub: rpb_grpc.RecommenderStub, running: Running
) -> None:
    from prometheus_client import generate_latest

    session = unique("visitor")
    e = event(unique("e"), rpb.ADD_TO_CART, VIEWED, session_id=session)
    await track(stub, e, event(unique("e"), rpb.VIEW, session_id=session))
    await track(stub, e)
    text = generate_latest(running.graph.metrics.registry).decode()
    assert 'recsvc_track_events_total{event="add_to_cart_accepted"} 1.0' in text
    assert 'recsvc_track_events_total{event="add_to_cart_duplicate"} 1.0' in text
    assert 'recsvc_track_events_total{event="view_rejected"} 1.0' in text
    assert 'recsvc_delivery_events_total{event="offered"} 1.0' in text
    assert "recsvc_delivery_buffered 0.0" in text
    await stub.Recommend(rpb.RecommendRequest(session_id=session, k=5), timeout=5)
    text = generate_latest(running.graph.metrics.registry).decode()
    assert 'recsvc_event_visible_seconds_bucket{le="+Inf"} 1.0' in text  # counted once
