"""One Cache contract over RedisCache (real Redis) and InProcessCache; plus each one's extras."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from loopback.ports import free_port
from recsvc.cache import Cache, InProcessCache, NullCache, open_cache
from recsvc.cache.redis import RedisCache
from recsvc.errors import CacheUnavailable
from recsvc.settings import Settings


@pytest.fixture(params=["redis", "memory"])
async def cache(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[Cache]:
    c: Cache
    if request.param == "redis":
        c = RedisCache.from_url(redis_url, timeout_s=1.0)
    else:
        c = InProcessCache(max_entries=10_000)
    yield c
    await c.aclose()


async def test_miss_hit_and_binary_values(cache: Cache, cache_prefix: str) -> None:
    k = [f"{cache_prefix}:g:kind:{n}" for n in range(3)]
    assert await cache.get_many(k) == {}
    await cache.set_many({k[0]: (b"\x00\xffbinary", 30.0), k[1]: (b"", 30.0)})
    assert await cache.get_many(k) == {k[0]: b"\x00\xffbinary", k[1]: b""}
    assert await cache.get_many([]) == {}


async def test_many_keys_in_one_batch(cache: Cache, cache_prefix: str) -> None:
    entries = {f"{cache_prefix}:g:p:{n}": (str(n).encode(), 30.0) for n in range(2000)}
    await cache.set_many(entries)
    got = await cache.get_many(list(entries))
    assert got == {k: v for k, (v, _) in entries.items()}


async def test_entries_expire_by_their_own_ttl(cache: Cache, cache_prefix: str) -> None:
    short, long = f"{cache_prefix}:g:k:short", f"{cache_prefix}:g:k:long"
    await cache.set_many({short: (b"s", 0.15), long: (b"l", 30.0)})
    assert set(await cache.get_many([short, long])) == {short, long}
    deadline = time.monotonic() + 5
    while short in await cache.get_many([short]):
        assert time.monotonic() < deadline, "short-lived entry never expired"
        await asyncio.sleep(0.05)
    assert await cache.get_many([short, long]) == {long: b"l"}


async def test_delete(cache: Cache, cache_prefix: str) -> None:
    a, b = f"{cache_prefix}:a", f"{cache_prefix}:b"
    await cache.set_many({a: (b"1", 30.0), b: (b"2", 30.0)})
    await cache.delete([a, f"{cache_prefix}:absent"])
    assert await cache.get_many([a, b]) == {b: b"2"}
    await cache.ping()


async def test_redis_ttl_is_set_in_redis(redis_url: str, cache_prefix: str) -> None:
    import redis.asyncio as aioredis

    cache = RedisCache.from_url(redis_url, timeout_s=1.0)
    key = f"{cache_prefix}:g:k:x"
    await cache.set_many({key: (b"v", 12.5)})
    raw = aioredis.Redis.from_url(redis_url)
    try:
        assert 12_000 < await raw.pttl(key) <= 12_500
    finally:
        await raw.aclose()
        await cache.aclose()


async def test_redis_down_is_cache_unavailable_fast() -> None:
    cache = RedisCache.from_url(f"redis://127.0.0.1:{free_port()}/0", timeout_s=0.2)
    started = time.monotonic()
    for call in (cache.get_many(["k"]), cache.set_many({"k": (b"v", 1.0)}), cache.delete(["k"]),
                 cache.ping()):
        with pytest.raises(CacheUnavailable):
            await call
    assert time.monotonic() - started < 2.0  # no client-side retries with backoff
    await cache.aclose()


async def test_in_process_cache_evicts_least_recently_used() -> None:
    now = [0.0]
    cache = InProcessCache(max_entries=3, clock=lambda: now[0])
    await cache.set_many({"a": (b"a", 10), "b": (b"b", 10), "c": (b"c", 10)})
    await cache.get_many(["a"])  # a is now the most recently used
    await cache.set_many({"d": (b"d", 10)})
    assert set(await cache.get_many(["a", "b", "c", "d"])) == {"a", "c", "d"}
    now[0] = 10.0
    assert await cache.get_many(["a", "c", "d"]) == {}
    assert len(cache) == 0
    disabled = InProcessCache(max_entries=0)
    await disabled.set_many({"a": (b"a", 10)})
    assert await disabled.get_many(["a"]) == {}


async def test_null_cache_never_hits() -> None:
    cache = NullCache()
    await cache.set_many({"a": (b"a", 10)})
    assert await cache.get_many(["a"]) == {}


async def test_open_cache_auto_picks_redis_or_memory(redis_url: str) -> None:
    up = await open_cache(Settings(cache="auto", redis_url=redis_url))
    down = await open_cache(Settings(cache="auto", redis_url=f"redis://127.0.0.1:{free_port()}/0"))
    forced = await open_cache(Settings(cache="redis", redis_url=f"redis://127.0.0.1:{free_port()}/0"))
    try:
        assert (up.name, down.name, forced.name) == ("redis", "memory", "redis")
        assert (await open_cache(Settings(cache="none"))).name == "none"
    finally:
        for c in (up, down, forced):
            await c.aclose()
