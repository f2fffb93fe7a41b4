"""At most one Redis round trip per Recommend: the profile, the shopper's recent events and
the context products' neighbours in one MGET; category and stock from the catalogue in
memory. Checked with the in-process layers off, as a fleet serving a large shop sees it."""

from __future__ import annotations

import asyncio

from recsvc.api.v1 import recommender_pb2 as rpb
from recsvc.api.v1 import recommender_pb2_grpc as rpb_grpc
from recsvc.cache.redis import RedisCache
from tests.conftest import unique
from tests.recsvc import seed
from tests.recsvc.conftest import StartServer


async def test_a_shop_page_call_is_one_round_trip(start_server: StartServer) -> None:
    cache = RedisCache.from_url("redis://127.0.0.1:6379/0", 1.0)
    try:
        r = await start_server(cache=cache, cache_prefix=unique("rt"), l1_entries=0,
                               l1_answers=0)
        stub = rpb_grpc.RecommenderStub(r.channel)
        mirror = r.graph.sessions.mirror  # type: ignore[attr-defined]
        while not mirror.active:
            await asyncio.sleep(0.01)
        assert r.graph.recommender.catalogue is not None
        context = rpb.RecommendContext(viewed_product_id=seed.product(3),
                                       cart_product_ids=[seed.product(7), seed.product(9)],
                                       category="shoes")
        counters = r.graph.aside.counters
        for n in range(6):
            user = seed.user(n)
            for _ in range(2):  # the first fills Redis from the store; then one MGET
                before = counters["reads"]
                answer = await stub.Recommend(
                    rpb.RecommendRequest(user_id=user, k=6, context=context), timeout=5)
                assert answer.items
            assert counters["reads"] == before + 1, user
        # A shopper with events: known to the mirror after one read, so their products'
        # neighbours join the same MGET too.
        session = unique("visitor")
        await stub.Track(rpb.TrackRequest(events=[rpb.Event(
            event_id=unique("e"), event_type=rpb.VIEW, product_id=seed.product(11),
            session_id=session)]), timeout=5)
        request = rpb.RecommendRequest(session_id=session, k=6, context=context)
        await stub.Recommend(request, timeout=5)
        before = counters["reads"]
        answer = await stub.Recommend(request, timeout=5)
        assert counters["reads"] == before + 1
        assert any(seed.product(11) in i.reason for i in answer.items)
    finally:
        await cache.aclose()
