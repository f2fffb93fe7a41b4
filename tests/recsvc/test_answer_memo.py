"""The memo of finished Recommend answers: repeated requests, generation changes, and
answers shaped by a store failure (never remembered)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from generation import Neighbours, ScoredItem
from recsvc.api.v1 import recommender_pb2 as rpb
from recsvc.api.v1 import recommender_pb2_grpc as rpb_grpc
from recsvc.cache import InProcessCache
from recsvc.errors import StoreUnavailable
from recsvc.server.answers import AnswerMemo
from recsvc.store.memory import InMemoryProfileStore
from tests.recsvc import seed
from tests.recsvc.conftest import StartServer
from tests.recsvc.stores import CountingStore

pytestmark = pytest.mark.timeout(60)


class FactsDownStore(CountingStore):
    """Profiles answer; neighbour/fact reads fail while ``down`` is set."""

    down = True

    async def get_neighbours(
        self, generation: str, product_ids: Sequence[str]
    ) -> dict[str, Neighbours]:
        if self.down:
            raise StoreUnavailable("neighbours table unreachable")
        return await super().get_neighbours(generation, product_ids)


def rec(user: str, k: int = 5, **context: object) -> rpb.RecommendRequest:
    return rpb.RecommendRequest(user_id=user, k=k, context=rpb.RecommendContext(**context))


def memory() -> InMemoryProfileStore:
    store = InMemoryProfileStore()
    seed.load_memory(store, seed.sample_generation())
    return store


async def test_a_repeated_request_is_answered_from_the_memo(start_server: StartServer) -> None:
    store = CountingStore(memory())
    r = await start_server(store=store, cache=InProcessCache(1000))
    stub = rpb_grpc.RecommenderStub(r.channel)
    first = await stub.Recommend(rec("u0001", category="books"), timeout=5)
    assert first.source == rpb.SOURCE_STORE
    again = await stub.Recommend(rec("u0001", category="books"), timeout=5)
    assert again.source == rpb.SOURCE_CACHE
    assert [i.product_id for i in again.items] == [i.product_id for i in first.items]
    assert again.generation == first.generation
    assert r.deps.recommender is not None and r.deps.recommender.counters["remembered"] == 1
    # Another query of the same user is its own entry, computed once.
    other = await stub.Recommend(rec("u0001", k=3), timeout=5)
    assert len(other.items) == 3 and r.deps.recommender.counters["remembered"] == 1
    assert r.deps.answers is not None and len(r.deps.answers) == 2


async def test_a_new_generation_is_never_answered_from_the_old_memo(
    start_server: StartServer,
) -> None:
    store = memory()
    r = await start_server(store=store, cache=InProcessCache(1000))
    stub = rpb_grpc.RecommenderStub(r.channel)
    old = await stub.Recommend(rec("u0001"), timeout=5)
    await stub.Recommend(rec("u0001"), timeout=5)  # now remembered
    data = seed.sample_generation()
    # The new generation recommends u0001 its old list in reverse, with a new reason.
    data.profiles = [
        replace(p, recommendations=tuple(
            ScoredItem(i.product_id, 1.0 - n / 100, "new model")
            for n, i in enumerate(reversed(p.recommendations))
        ))
        if p.user_id == "u0001" else p
        for p in data.profiles
    ]
    seed.load_memory(store, data)
    assert r.deps.tracker is not None
    await r.deps.tracker.refresh()
    new = await stub.Recommend(rec("u0001"), timeout=5)
    assert new.generation == data.manifest.generation != old.generation
    assert new.source == rpb.SOURCE_STORE
    assert [i.product_id for i in new.items] != [i.product_id for i in old.items]
    assert "new model" in {i.reason for i in new.items}


async def test_an_answer_shaped_by_a_store_failure_is_not_remembered(
    start_server: StartServer,
) -> None:
    store = FactsDownStore(memory())
    r = await start_server(store=store, cache=InProcessCache(1000))
    stub = rpb_grpc.RecommenderStub(r.channel)
    degraded = await stub.Recommend(rec("u0002", viewed_product_id="p0003"), timeout=5)
    assert degraded.source == rpb.SOURCE_STORE and len(degraded.items) == 5
    assert r.deps.answers is not None and len(r.deps.answers) == 0
    store.down = False
    healed = await stub.Recommend(rec("u0002", viewed_product_id="p0003"), timeout=5)
    assert len(healed.items) == 5 and len(r.deps.answers) == 1
    assert r.deps.recommender is not None and r.deps.recommender.counters["remembered"] == 0


async def test_memo_off_without_the_l1_or_when_disabled(start_server: StartServer) -> None:
    r = await start_server(store=memory(), cache=InProcessCache(100), l1_answers=0)
    assert r.deps.answers is None
    r = await start_server(store=memory(), cache=InProcessCache(100), l1_entries=0)
    assert r.deps.answers is None


def response(n: int) -> rpb.RecommendResponse:
    return rpb.RecommendResponse(items=[rpb.ScoredItem(product_id=f"p{n}")], generation="g1")


def test_memo_is_bounded_expires_and_belongs_to_one_generation() -> None:
    now = [0.0]
    memo = AnswerMemo(2, ttl_s=30, clock=lambda: now[0])
    memo.put("g1", b"a", response(1))
    memo.put("g1", b"b", response(2))
    assert memo.get("g1", b"a") == response(1)  # a is now the most recent
    memo.put("g1", b"c", response(3))
    assert memo.get("g1", b"b") is None and len(memo) == 2
    assert memo.get("g2", b"a") is None  # another generation: nothing
    now[0] = 31.0
    assert memo.get("g1", b"a") is None  # expired
    memo.put("g2", b"a", response(4))
    assert len(memo) == 1 and memo.get("g1", b"c") is None and memo.get("g2", b"a") is not None
