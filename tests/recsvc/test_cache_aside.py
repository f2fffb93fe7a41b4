"""Cache-aside: negative entries, single-flight, jittered TTLs, cache failures as misses."""

from __future__ import annotations

import asyncio
import random

import pytest

from generation import Profile
from loopback.ports import free_port
from recsvc.cache import InProcessCache, NullCache, codec, keys
from recsvc.cache.aside import NEGATIVE, CacheAside, jittered_ttl
from recsvc.cache.base import Cache
from recsvc.cache.redis import RedisCache
from recsvc.errors import StoreUnavailable
from tests.recsvc import seed
from tests.recsvc.stores import CountingStore

DATA = seed.sample_generation("20260301T000000Z-cccccc")
GEN = DATA.manifest.generation


def make_aside(cache: Cache, prefix: str = "t", **kw: float) -> CacheAside:
    args = {"ttl_s": 60.0, "jitter": 0.1, "negative_ttl_s": 5.0, "fetch_timeout_s": 2.0, **kw}
    return CacheAside(cache, prefix=prefix, rng=random.Random(7), **args)  # type: ignore[arg-type]


@pytest.fixture
def store() -> CountingStore:
    with seed.memory_store(DATA) as mem:
        return CountingStore(mem)


def fetch_profiles(store: CountingStore):  # type: ignore[no-untyped-def]
    return lambda ids: store.get_profiles(GEN, ids)


async def test_second_lookup_is_a_cache_hit(store: CountingStore) -> None:
    aside = make_aside(InProcessCache())
    first = await aside.get_many(codec.PROFILE, GEN, ["u0001", "u0002"], fetch_profiles(store))
    second = await aside.get_many(codec.PROFILE, GEN, ["u0002", "u0001"], fetch_profiles(store))
    assert [f.cached for f in first.values()] == [False, False]
    assert list(second) == ["u0002", "u0001"] and all(f.cached for f in second.values())
    assert second["u0001"].value == first["u0001"].value
    assert isinstance(first["u0001"].value, Profile)
    assert store.calls["get_profiles"] == 1


async def test_unknown_user_is_cached_negatively(store: CountingStore, redis_url: str,
                                                 cache_prefix: str) -> None:
    cache = RedisCache.from_url(redis_url, 1.0)
    aside = make_aside(cache, prefix=cache_prefix, negative_ttl_s=5.0)
    for _ in range(3):
        got = await aside.get_many(codec.PROFILE, GEN, ["stranger"], fetch_profiles(store))
        assert got["stranger"].value is None
    assert store.ids["stranger"] == 1
    assert aside.counters["negative_hits"] == 2
    key = keys.build(cache_prefix, GEN, keys.PROFILE, "stranger")
    assert await cache.get_many([key]) == {key: NEGATIVE}
    ttl_ms = await cache._client.pttl(key)  # the negative TTL, not the normal one
    assert 0 < ttl_ms <= 5_500
    await cache.aclose()


async def test_concurrent_lookups_share_one_store_fetch(store: CountingStore) -> None:
    store.delay_s = 0.05  # the fetch is still running when the others ask
    aside = make_aside(InProcessCache())
    results = await asyncio.gather(
        *(aside.get_many(codec.PROFILE, GEN, ["u0007"], fetch_profiles(store)) for _ in range(20))
    )
    assert store.calls["get_profiles"] == 1
    assert aside.counters["joined"] == 19
    assert all(r["u0007"].value == results[0]["u0007"].value is not None for r in results)


async def test_a_waiter_timing_out_does_not_cancel_the_shared_fetch(store: CountingStore) -> None:
    store.delay_s = 0.1
    aside = make_aside(InProcessCache())
    impatient = asyncio.create_task(
        asyncio.wait_for(aside.get_many(codec.PROFILE, GEN, ["u0008"], fetch_profiles(store)), 0.01)
    )
    patient = await aside.get_many(codec.PROFILE, GEN, ["u0008"], fetch_profiles(store))
    with pytest.raises(TimeoutError):
        await impatient
    assert patient["u0008"].value is not None
    assert store.calls["get_profiles"] == 1
    again = await aside.get_many(codec.PROFILE, GEN, ["u0008"], fetch_profiles(store))
    assert again["u0008"].cached


async def test_store_failure_reaches_every_waiter_and_is_not_cached(store: CountingStore) -> None:
    store.delay_s = 0.02
    aside = make_aside(InProcessCache())
    await store.inner.aclose()  # the store is gone: every call raises StoreUnavailable
    results = await asyncio.gather(
        *(aside.get_many(codec.PROFILE, GEN, ["u0001"], fetch_profiles(store)) for _ in range(5)),
        return_exceptions=True,
    )
    assert all(isinstance(r, StoreUnavailable) for r in results)
    assert store.calls["get_profiles"] == 1
    assert len(aside.cache) == 0  # type: ignore[arg-type]


async def test_slow_store_fetch_times_out_as_store_unavailable(store: CountingStore) -> None:
    store.delay_s = 0.5
    aside = make_aside(InProcessCache(), fetch_timeout_s=0.05)
    with pytest.raises(StoreUnavailable):
        await aside.get_many(codec.PROFILE, GEN, ["u0001"], fetch_profiles(store))


def test_jittered_ttl_stays_within_bounds() -> None:
    rng = random.Random(1)
    samples = [jittered_ttl(100.0, 0.2, rng) for _ in range(5000)]
    assert 80.0 <= min(samples) < 82.0 and 118.0 < max(samples) <= 120.0
    assert len({round(s, 3) for s in samples}) > 4000  # actually spread, not constant
    assert jittered_ttl(100.0, 0.0, rng) == 100.0


async def test_written_ttls_are_jittered_within_bounds(store: CountingStore, redis_url: str,
                                                       cache_prefix: str) -> None:
    cache = RedisCache.from_url(redis_url, 1.0)
    aside = make_aside(cache, prefix=cache_prefix, ttl_s=100.0, jitter=0.2)
    users = [seed.user(n) for n in range(40)]
    await aside.get_many(codec.PROFILE, GEN, users, fetch_profiles(store))
    ttls = [await cache._client.pttl(keys.build(cache_prefix, GEN, keys.PROFILE, u)) for u in users]
    assert all(79_000 <= t <= 120_000 for t in ttls)
    assert len(set(ttls)) > 30
    await cache.aclose()


async def test_keys_change_with_the_generation(store: CountingStore) -> None:
    newer = seed.sample_generation("20260302T000000Z-dddddd")
    seed.load_memory(store.inner, newer)
    aside = make_aside(InProcessCache())
    await aside.get_many(codec.PROFILE, GEN, ["u0001"], fetch_profiles(store))
    got = await aside.get_many(
        codec.PROFILE, newer.manifest.generation, ["u0001"],
        lambda ids: store.get_profiles(newer.manifest.generation, ids),
    )
    assert not got["u0001"].cached
    assert store.calls["get_profiles"] == 2


async def test_cache_down_counts_and_serves_from_the_store(store: CountingStore) -> None:
    dead = RedisCache.from_url(f"redis://127.0.0.1:{free_port()}/0", 0.2)
    aside = make_aside(dead)
    for _ in range(3):
        got = await aside.get_many(codec.PROFILE, GEN, ["u0001"], fetch_profiles(store))
        assert got["u0001"].value is not None and not got["u0001"].cached
    assert aside.counters["cache_errors"] >= 1
    # After a failure the cache is skipped for a while instead of failing every call.
    assert aside.counters["cache_skipped"] >= 1
    assert store.calls["get_profiles"] == 3
    await dead.aclose()


async def test_repeated_store_failures_short_circuit_but_isolated_ones_do_not(
    store: CountingStore,
) -> None:
    from recsvc.cache.aside import STORE_FAILURES_TO_TRIP

    aside = make_aside(NullCache(), fetch_timeout_s=0.02)

    async def lookup(user: str) -> object:
        return await aside.get_many(codec.PROFILE, GEN, [user], fetch_profiles(store))

    async def fail(times: int) -> None:
        store.delay_s = 0.2  # slower than the fetch timeout
        for n in range(times):
            with pytest.raises(StoreUnavailable):
                await lookup(f"x{n}")
        store.delay_s = 0.0

    await fail(STORE_FAILURES_TO_TRIP - 1)
    await lookup("u0001")  # a success resets the count
    await fail(STORE_FAILURES_TO_TRIP - 1)
    assert aside.counters["store_short_circuits"] == 0
    await fail(1)  # now the failures are consecutive enough
    calls = store.calls["get_profiles"]
    with pytest.raises(StoreUnavailable, match="repeatedly"):
        await lookup("u0002")
    assert store.calls["get_profiles"] == calls  # not even tried
    assert aside.counters["store_short_circuits"] == 1
