"""The memo of finished Recommend answers: repeated requests, generation changes, and
answers shaped by a store failure (never remembered); through a server and, for the rules
of remembering, without one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import partial

import pytest

from generation import Neighbours, ScoredItem
from recsvc import observability
from recsvc.answers import AnswerMemo, Answers, Remembered, RememberingAnswers
from recsvc.api.v1 import recommender_pb2 as rpb
from recsvc.api.v1 import recommender_pb2_grpc as rpb_grpc
from recsvc.cache import InProcessCache
from recsvc.errors import StoreUnavailable
from recsvc.models import Recommendation, RecommendQuery, Source
from recsvc.observability import CallRecord
from recsvc.requests import recommend_request
from recsvc.sessions import Shopper
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


# Recommend requests with k=5 unless a test says otherwise.
rec = partial(recommend_request, k=5)


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
    assert r.graph.recommender.counters["remembered"] == 1
    # Another query of the same user is its own entry, computed once.
    other = await stub.Recommend(rec("u0001", k=3), timeout=5)
    assert len(other.items) == 3 and r.graph.recommender.counters["remembered"] == 1
    assert isinstance(r.graph.answers, RememberingAnswers) and len(r.graph.answers.memo) == 2


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
    await r.graph.tracker.refresh()
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
    assert isinstance(r.graph.answers, RememberingAnswers) and len(r.graph.answers.memo) == 0
    store.down = False
    healed = await stub.Recommend(rec("u0002", viewed_product_id="p0003"), timeout=5)
    assert len(healed.items) == 5 and len(r.graph.answers.memo) == 1
    assert r.graph.recommender.counters["remembered"] == 0


async def test_memo_off_without_the_l1_or_when_disabled(start_server: StartServer) -> None:
    r = await start_server(store=memory(), cache=InProcessCache(100), l1_answers=0)
    assert not isinstance(r.graph.answers, RememberingAnswers)
    r = await start_server(store=memory(), cache=InProcessCache(100), l1_entries=0)
    assert not isinstance(r.graph.answers, RememberingAnswers)


def remembered(n: int) -> Remembered[rpb.RecommendResponse]:
    response = rpb.RecommendResponse(items=[rpb.ScoredItem(product_id=f"p{n}")], generation="g1")
    return Remembered(response, Source.CACHE, 1)


def test_memo_is_bounded_expires_and_belongs_to_one_generation() -> None:
    now = [0.0]
    memo: AnswerMemo[rpb.RecommendResponse] = AnswerMemo(2, ttl_s=30, clock=lambda: now[0])
    memo.put("g1", b"a", remembered(1))
    memo.put("g1", b"b", remembered(2))
    assert memo.get("g1", b"a") == remembered(1)  # a is now the most recent
    memo.put("g1", b"c", remembered(3))
    assert memo.get("g1", b"b") is None and len(memo) == 2
    assert memo.get("g2", b"a") is None  # another generation: nothing
    now[0] = 31.0
    assert memo.get("g1", b"a") is None  # expired
    memo.put("g2", b"a", remembered(4))
    assert len(memo) == 1 and memo.get("g1", b"c") is None and memo.get("g2", b"a") is not None


# -- the rules of remembering, without a server -----------------------------------------------

Rendered = tuple[str, str, tuple[str, ...]]


def render(result: Recommendation) -> Rendered:
    return result.source.value, result.generation, tuple(i.product_id for i in result.items)


def answer(source: Source, generation: str = "g1", *, complete: bool = True) -> Recommendation:
    items = (ScoredItem("p1", 0.9), ScoredItem("p2", 0.8))
    return Recommendation(items, source, generation, complete=complete)


@dataclass
class ScriptedRecommender:
    """Gives ``results`` in order; the served generation is whatever ``generation`` says."""

    results: list[Recommendation]
    generation: str | None = "g1"
    remembered: list[Source] = field(default_factory=list)
    queries: list[RecommendQuery] = field(default_factory=list)
    # The shopper's recent events as stored (None: the session memory is unreadable).
    session: bytes | None = b""
    # Whether this process knows them without a round trip (else computing reads them).
    known: bool = True

    async def recommend(self, query: RecommendQuery, budget_s: float | None) -> Recommendation:
        self.queries.append(query)
        return replace(self.results.pop(0), session_state=self.session)

    def generation_now(self) -> str | None:
        return self.generation

    def count_remembered(self, source: Source) -> None:
        self.remembered.append(source)

    def known_session(self, shopper: Shopper) -> bytes | None:
        return self.session if self.known else None


def remembering(recommender: ScriptedRecommender) -> RememberingAnswers[Rendered]:
    return RememberingAnswers(recommender, AnswerMemo(10, ttl_s=30))


async def ask(answers: Answers[Rendered], key: bytes = b"q") -> tuple[Rendered, CallRecord]:
    """One answer, with the access-log fields the call would carry."""
    record = CallRecord()
    tokens = observability.bind("req", record)
    try:
        return await answers.answer(
            key, Shopper("u1"), lambda: RecommendQuery("u1"), render, 1.0), record
    finally:
        observability.unbind(tokens)


async def test_a_store_answer_is_given_again_from_memory_as_cache() -> None:
    recommender = ScriptedRecommender([answer(Source.STORE)])
    answers = remembering(recommender)
    first, first_fields = await ask(answers)
    again, again_fields = await ask(answers)
    assert first == ("store", "g1", ("p1", "p2"))
    assert again == ("cache", "g1", ("p1", "p2"))
    assert len(recommender.queries) == 1 and recommender.remembered == [Source.CACHE]
    assert first_fields == {"source": "store", "generation": "g1", "items": 2}
    assert again_fields == {"source": "cache", "generation": "g1", "items": 2}


async def test_a_cache_answer_is_remembered_as_rendered() -> None:
    recommender = ScriptedRecommender([answer(Source.CACHE)])
    answers = remembering(recommender)
    first, _ = await ask(answers)
    again, _ = await ask(answers)
    assert again is first and recommender.remembered == [Source.CACHE]


async def test_incomplete_answers_and_answers_of_a_superseded_generation_are_not_kept() -> None:
    recommender = ScriptedRecommender([
        answer(Source.FALLBACK, complete=False),
        answer(Source.STORE, generation="g0"),  # computed while g1 became the served one
        answer(Source.STORE),
    ])
    answers = remembering(recommender)
    for _ in range(3):
        await ask(answers)
    assert len(recommender.queries) == 3 and recommender.remembered == []
    assert len(answers.memo) == 1


async def test_a_new_served_generation_misses_the_memo() -> None:
    recommender = ScriptedRecommender([answer(Source.CACHE), answer(Source.CACHE, "g2")])
    answers = remembering(recommender)
    await ask(answers)
    recommender.generation = "g2"
    again, _ = await ask(answers)
    assert again == ("cache", "g2", ("p1", "p2")) and recommender.remembered == []


async def test_without_a_memo_every_answer_is_computed() -> None:
    recommender = ScriptedRecommender([answer(Source.STORE), answer(Source.CACHE)])
    answers: Answers[Rendered] = Answers(recommender)
    first, fields = await ask(answers)
    again, _ = await ask(answers)
    assert (first[0], again[0]) == ("store", "cache") and len(recommender.queries) == 2
    assert fields == {"source": "store", "generation": "g1", "items": 2}


async def test_new_session_events_miss_the_memo_and_unreadable_ones_skip_it() -> None:
    recommender = ScriptedRecommender([answer(Source.CACHE, complete=True) for _ in range(4)])
    answers = remembering(recommender)
    await ask(answers)
    recommender.session = b"view\tp9\t1700000000000"  # the shopper just viewed p9
    await ask(answers)
    await ask(answers)  # the same events again: remembered
    recommender.session = None  # Redis away: computed, not remembered
    await ask(answers)
    await ask(answers)
    assert len(recommender.queries) == 4 and recommender.remembered == [Source.CACHE]


async def test_events_read_while_computing_key_the_answer_they_shaped() -> None:
    recommender = ScriptedRecommender([answer(Source.CACHE) for _ in range(3)],
                                      session=b"view\tp9\t1700000000000", known=False)
    answers = remembering(recommender)
    await ask(answers)  # not known here: computed (reading them), remembered under them
    recommender.known = True
    await ask(answers)  # now known and unchanged: remembered
    recommender.session = b"view\tp8\t1700000000001\nview\tp9\t1700000000000"
    await ask(answers)  # changed since: computed again
    assert len(recommender.queries) == 2 and recommender.remembered == [Source.CACHE]
