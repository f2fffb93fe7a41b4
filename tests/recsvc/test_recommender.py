"""The Recommend and Segments use cases over the in-memory store (no gRPC)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator

import pytest

from generation import FORMAT_VERSION
from recsvc.cache import InProcessCache
from recsvc.cache.aside import CacheAside
from recsvc.errors import InvalidRequest, NotFound, StoreUnavailable, Unavailable
from recsvc.models import RecommendQuery, SegmentQuery, Source
from recsvc.recommender import Recommender
from recsvc.segments import SegmentService, decode_token, encode_token
from recsvc.sessions.writers import NoSessions
from recsvc.tracker import GenerationTracker
from tests.recsvc import seed
from tests.recsvc.stores import CountingStore

DATA = seed.sample_generation("20260401T000000Z-eeeeee")
GEN = DATA.manifest.generation


_OPEN: list[CacheAside | GenerationTracker] = []


def build(store: CountingStore, refresh_s: float = 60.0) -> tuple[Recommender, SegmentService]:
    aside = CacheAside(InProcessCache(), prefix="t", ttl_s=60, jitter=0.1, negative_ttl_s=5,
                       fetch_timeout_s=1.0)
    tracker = GenerationTracker(store, refresh_s=refresh_s, timeout_s=1.0)
    _OPEN.extend((aside, tracker))
    return (Recommender(store, aside, tracker, NoSessions("t"), store_timeout_s=1.0),
            SegmentService(store, tracker, store_timeout_s=1.0))


@pytest.fixture(autouse=True)
async def _stop_background_work() -> AsyncIterator[None]:
    yield
    while _OPEN:
        await _OPEN.pop().aclose()


@pytest.fixture
def store() -> CountingStore:
    with seed.memory_store(DATA) as mem:
        return CountingStore(mem)


def ids(result: object) -> list[str]:
    return [i.product_id for i in result.items]  # type: ignore[attr-defined]


async def test_known_user_store_then_cache(store: CountingStore) -> None:
    rec, _ = build(store)
    first = await rec.recommend(RecommendQuery("u0001", k=5), budget_s=None)
    second = await rec.recommend(RecommendQuery("u0001", k=5), budget_s=None)
    assert (first.source, second.source) == (Source.STORE, Source.CACHE)
    assert first.generation == GEN and first.items == second.items and len(first.items) == 5
    assert store.calls["get_profiles"] == 1


async def test_unknown_user_gets_popular_and_says_fallback(store: CountingStore) -> None:
    rec, _ = build(store)
    known = await rec.recommend(RecommendQuery("u0001", k=10), None)
    unknown = await rec.recommend(RecommendQuery("stranger", k=10), None)
    assert unknown.source is Source.FALLBACK and unknown.generation == GEN
    assert ids(unknown) != ids(known)
    overall = next(p for p in DATA.popular if p.category == "")
    expected = [i.product_id for i in overall.items if i.product_id not in seed.OUT_OF_STOCK]
    assert ids(unknown) == expected[:10]


async def test_rules_hold_for_known_and_unknown_users(store: CountingStore) -> None:
    rec, _ = build(store)
    profile = next(p for p in DATA.profiles if p.user_id == "u0002")
    top = [i.product_id for i in profile.recommendations]
    q_ctx = {"viewed_product_id": top[0], "cart_product_ids": (top[2],),
             "exclude_product_ids": (top[3], "P001")}
    for user in ("u0002", "stranger"):
        result = await rec.recommend(RecommendQuery(user, k=40, **q_ctx), None)
        got = set(ids(result))
        assert not got & {top[0], top[2], top[3], "P001"}
        assert not got & seed.OUT_OF_STOCK
        if user == "u0002":
            assert not got & set(profile.purchased)
        assert len(ids(result)) == len(got)


async def test_category_filter(store: CountingStore) -> None:
    rec, _ = build(store)
    for user in ("u0003", "stranger"):
        result = await rec.recommend(RecommendQuery(user, k=8, category="shoes"), None)
        assert result.items and {seed.category_of(p) for p in ids(result)} == {"shoes"}


async def test_catalogue_in_memory_answers_facts_without_lookups(store: CountingStore) -> None:
    rec, _ = build(store)
    await rec.warm()
    assert rec.catalogue is not None and rec.catalogue.generation == GEN
    for user in ("u0003", "u0005", "stranger"):
        result = await rec.recommend(RecommendQuery(user, k=8, category="shoes"), None)
        assert result.items and {seed.category_of(p) for p in ids(result)} == {"shoes"}
    assert store.calls["get_facts"] == 0


async def test_a_failed_start_up_load_is_tried_again(
    store: CountingStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("recsvc.held.LOAD_RETRY_S", 0.0)
    healthy = store.inner.get_catalogue

    async def timed_out(generation: str) -> list[bytes]:
        raise StoreUnavailable("store fetch timed out")

    monkeypatch.setattr(store.inner, "get_catalogue", timed_out)
    rec, _ = build(store)
    await rec.warm()
    assert rec.catalogue is None  # the load failed: facts per call for now
    monkeypatch.setattr(store.inner, "get_catalogue", healthy)
    for _ in range(50):
        await rec.recommend(RecommendQuery("u0003", k=8), None)
        if rec.catalogue is not None:
            break
        await asyncio.sleep(0.01)
    assert rec.catalogue is not None and rec.catalogue.generation == GEN


async def test_an_incomplete_catalogue_is_not_used(store: CountingStore) -> None:
    gen = store.inner._generations[GEN]  # a part lost: the manifest counts one more
    gen.catalogue = gen.catalogue[:-1]
    rec, _ = build(store)
    await rec.warm()
    assert rec.catalogue is None
    with seed.memory_store(DATA) as whole:
        held, _ = build(CountingStore(whole))
        await held.warm()
        for user in ("u0003", "u0005", "stranger"):
            query = RecommendQuery(user, k=8, category="shoes")
            result = await rec.recommend(query, None)
            # Looked up per call, the facts give the answer the catalogue in memory gives.
            assert result.items == (await held.recommend(query, None)).items
            assert {seed.category_of(p) for p in ids(result)} == {"shoes"}
    assert store.calls["get_facts"] >= 1


async def test_viewed_product_neighbours_boost_the_ranking(store: CountingStore) -> None:
    rec, _ = build(store)
    plain = await rec.recommend(RecommendQuery("u0004", k=10), None)
    viewed = await rec.recommend(RecommendQuery("u0004", k=10, viewed_product_id="P050"), None)
    assert ids(plain) != ids(viewed)
    assert any(i.reason == "because you viewed P050" for i in viewed.items)


async def test_store_down_serves_remembered_popular_lists(store: CountingStore) -> None:
    rec, _ = build(store)
    await rec.warm()
    await store.inner.aclose()
    result = await rec.recommend(RecommendQuery("u0001", k=5, category="hats"), None)
    assert result.source is Source.FALLBACK and result.generation == GEN
    assert len(result.items) == 5 and {seed.category_of(p) for p in ids(result)} == {"hats"}


async def test_store_down_before_anything_is_loaded_is_unavailable(store: CountingStore) -> None:
    rec, _ = build(store)
    await store.inner.aclose()
    with pytest.raises(Unavailable):
        await rec.recommend(RecommendQuery("u0001"), None)


async def test_deadline_bounds_a_slow_store(store: CountingStore) -> None:
    rec, _ = build(store)
    await rec.warm()
    store.delay_s = 2.0
    started = time.monotonic()
    result = await rec.recommend(RecommendQuery("u0009", k=3), budget_s=0.2)
    assert time.monotonic() - started < 0.5
    assert result.source is Source.FALLBACK and len(result.items) == 3


async def test_generation_flip_is_picked_up_after_refresh(store: CountingStore) -> None:
    rec, _ = build(store, refresh_s=0.05)
    assert (await rec.recommend(RecommendQuery("u0001"), None)).generation == GEN
    newer = seed.sample_generation("20260402T000000Z-ffffff")
    seed.load_memory(store.inner, newer)
    deadline = time.monotonic() + 5
    while (await rec.recommend(RecommendQuery("u0001"), None)).generation == GEN:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    assert (await rec.info(None)).generation == newer.manifest.generation


async def test_a_generation_of_an_unknown_format_is_not_switched_to(
    store: CountingStore, caplog: pytest.LogCaptureFixture
) -> None:
    """A generation written in a payload format this service cannot read: the served
    generation stays, and the log says why (once, however often the pointer is re-read)."""
    rec, _ = build(store, refresh_s=0.02)
    assert (await rec.recommend(RecommendQuery("u0001"), None)).generation == GEN
    newer = seed.sample_generation("20260403T000000Z-abcdef")
    future = dataclasses.replace(newer.manifest, format_version=FORMAT_VERSION + 1)
    seed.load_memory(store.inner, dataclasses.replace(newer, manifest=future))
    reads = store.calls["current_generation"]
    with caplog.at_level(logging.ERROR, logger="recsvc.tracker"):
        while store.calls["current_generation"] < reads + 5:
            assert (await rec.recommend(RecommendQuery("u0001"), None)).generation == GEN
            await asyncio.sleep(0.02)
    refusals = [r.getMessage() for r in caplog.records if "not switching" in r.getMessage()]
    assert len(refusals) == 1
    assert f"format {FORMAT_VERSION + 1}" in refusals[0] and f"still serving {GEN}" in refusals[0]
    assert (await rec.info(None)).generation == GEN


async def test_info_reports_the_manifest(store: CountingStore) -> None:
    rec, _ = build(store)
    # The writer adds how many catalogue parts and detail buckets it wrote.
    counts = {**DATA.manifest.counts, "catalogue_parts": 1, "details_buckets": 1}
    assert await rec.info(None) == dataclasses.replace(DATA.manifest, counts=counts)


async def test_nothing_published_is_unavailable() -> None:
    with seed.memory_store() as empty:
        rec, segments = build(CountingStore(empty))
        with pytest.raises(Unavailable):
            await rec.recommend(RecommendQuery("u0001"), None)
        with pytest.raises(Unavailable):
            await segments.list_segments()


async def test_segments_listing_and_resumable_stream(store: CountingStore) -> None:
    _, segments = build(store)
    listing = await segments.list_segments()
    assert [s.name for s in listing.segments] == ["high_value", "lapsed"]
    expected = [m.user_id for m in seed.members_of(DATA, "high_value")]
    got: list[str] = []
    token = ""
    while True:  # resume after every 25 members, as a client that keeps reconnecting
        batch = [s async for s in segments.stream(
            SegmentQuery("high_value", page_size=10, resume_token=token, limit=25))]
        if not batch:
            break
        got += [s.member.user_id for s in batch]
        token = batch[-1].resume_token
    assert got == expected


async def test_segment_errors(store: CountingStore) -> None:
    _, segments = build(store)
    with pytest.raises(NotFound):
        [s async for s in segments.stream(SegmentQuery("nope"))]
    for bad in ("garbage!", encode_token("another-generation", "u0001"), "e30="):
        with pytest.raises(InvalidRequest) as err:
            [s async for s in segments.stream(SegmentQuery("lapsed", resume_token=bad))]
        assert err.value.field == "resume_token"
    assert decode_token(encode_token(GEN, "u:1")) == (GEN, "u:1")
