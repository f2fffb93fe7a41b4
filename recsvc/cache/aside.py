"""Cache-aside over any Cache: jittered TTLs, negative entries, one in-flight fetch per key."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from recsvc.cache import keys
from recsvc.cache.base import Cache
from recsvc.cache.codec import Kind
from recsvc.cache.memory import ObjectLRU
from recsvc.errors import CacheUnavailable, StoreUnavailable

__all__ = ["CacheAside", "Fetched", "Want", "jittered_ttl"]

log = logging.getLogger(__name__)

T = TypeVar("T")

# Stored for ids the store does not have ("unknown user"): spares the store repeated
# misses. A lone zero byte is no payload: protobuf has no field number 0, so no encoder
# writes it (an empty payload, b"", is a valid message of all defaults).
NEGATIVE = b"\x00"
# After a cache failure, skip the cache this long: a dead or black-holed Redis then
# costs one timeout per second, not one per request.
CACHE_RETRY_AFTER_S = 1.0
# This many store failures in a row mark the store down for STORE_RETRY_AFTER_S: in an
# outage one request per period pays a timeout and the rest fall back at once. Isolated
# failures (a throttled call) never trip it.
STORE_FAILURES_TO_TRIP = 5
STORE_RETRY_AFTER_S = 1.0


def jittered_ttl(ttl_s: float, jitter: float, rng: random.Random) -> float:
    """``ttl_s`` spread uniformly by +-``jitter`` (a share), so entries written together
    (a burst after a generation flip) don't all expire together."""
    return ttl_s * rng.uniform(1.0 - jitter, 1.0 + jitter)


@dataclass(frozen=True, slots=True)
class Fetched(Generic[T]):
    """One looked-up id: ``value`` None means the store does not have it."""

    value: T | None
    cached: bool


# What cache-aside calls on a miss: the store's payload bytes of the ids it has.
Fetch = Callable[[list[str]], Awaitable[Mapping[str, bytes]]]


@dataclass(frozen=True, slots=True)
class Want(Generic[T]):
    """One kind's part of a lookup: its ids and how the store fetches misses."""

    kind: Kind[T]
    ids: Sequence[str]
    fetch: Fetch


class CacheAside:
    """Looks ids up in the cache, fetches the misses from the store in one batch, and
    writes the store's bytes back as they came. Concurrent lookups of the same key share
    one store fetch.

    ``l1``: an optional bounded in-process LRU of *decoded* values looked up before
    ``cache`` (Redis) and filled from it and from the store, so hot keys cost neither a
    network round trip nor a decode. Keys carry the generation, so an L1 entry is never
    stale, only evicted or expired.

    ``counters`` (hits, l1_hits (part of hits), misses, negative_hits, fetches,
    cache_errors, ...) are for metrics and tests."""

    def __init__(
        self,
        cache: Cache,
        *,
        prefix: str,
        ttl_s: float,
        jitter: float,
        negative_ttl_s: float,
        fetch_timeout_s: float,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        l1: ObjectLRU | None = None,
        l1_ttl_s: float = 30.0,
    ) -> None:
        self.cache = cache
        self.l1 = l1
        self._l1_ttl_s = l1_ttl_s
        self._prefix = prefix
        self._ttl_s = ttl_s
        self._jitter = jitter
        self._negative_ttl_s = negative_ttl_s
        self._fetch_timeout_s = fetch_timeout_s
        self._rng = rng or random.Random()
        self._clock = clock
        self._cache_down_until = 0.0
        self._cache_healthy = True
        self._store_failures = 0
        self._store_down_until = 0.0
        # cache key -> the future of the store fetch that will produce it.
        self._inflight: dict[str, asyncio.Future[Mapping[str, Any]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.counters: Counter[str] = Counter()

    async def get_many(
        self, kind: Kind[T], generation: str, ids: Sequence[str], fetch: Fetch
    ) -> dict[str, Fetched[T]]:
        """``ids`` (deduplicated, in order) -> Fetched. Raises StoreUnavailable when the
        store fetch of a miss fails; cache failures only count as misses."""
        found, _ = await self.get_together(generation, [Want(kind, ids, fetch)], ())
        if isinstance(found[0], StoreUnavailable):
            raise found[0]
        return found[0]

    async def get_together(
        self, generation: str, wants: Sequence[Want[Any]], also: Sequence[str],
    ) -> tuple[list[dict[str, Fetched[Any]] | StoreUnavailable], dict[str, bytes] | None]:
        """Several kinds' lookups and the raw cache values of the keys ``also`` (live
        values that are neither stored nor kept in the L1: session memory) in one cache
        round trip: what the L1 lacks goes into one MGET, and the misses of every kind
        to the store concurrently. Per want: its Fetched by id, or the StoreUnavailable
        its store fetch raised (the caller decides what that costs). The second part is
        None when the cache could not be read."""
        l1 = self.l1
        counters = self.counters
        results: list[dict[str, Fetched[Any]]] = []
        wanted_keys: list[dict[str, str]] = []
        remote: list[tuple[int, str, str]] = []  # (want, id, key) to read from the cache
        for n, want in enumerate(wants):
            base = keys.build(self._prefix, generation, want.kind.name, "")
            wanted = {i: base + i for i in want.ids}
            wanted_keys.append(wanted)
            result: dict[str, Fetched[Any]] = {}
            results.append(result)
            local = l1.get_many(wanted.values()) if l1 is not None and wanted else None
            if local:
                counters["l1_hits"] += len(local)
            for id_, key in wanted.items():
                hit = local.get(key) if local else None
                if hit is None:
                    remote.append((n, id_, key))
                else:
                    result[id_] = hit
                    counters["hits" if hit.value is not None else "negative_hits"] += 1
        extra: dict[str, bytes] | None = {}
        missing: list[list[str]] = [[] for _ in wants]
        if remote or also:
            raw_or_none = await self._cache_read([*(k for _, _, k in remote), *also])
            raw = raw_or_none or {}
            if also:
                extra = None if raw_or_none is None else {k: raw[k] for k in also if k in raw}
            decoded: dict[str, Fetched[Any]] = {}
            for n, id_, key in remote:
                value = raw.get(key)
                if value is None:
                    missing[n].append(id_)
                    continue
                if value == NEGATIVE:
                    counters["negative_hits"] += 1
                    fetched: Fetched[Any] = Fetched(None, cached=True)
                else:
                    counters["hits"] += 1
                    fetched = Fetched(wants[n].kind.decode(value), cached=True)
                results[n][id_] = decoded[key] = fetched
            if l1 is not None and decoded:
                l1.put_many(decoded, self._l1_ttl_s)
        out: list[dict[str, Fetched[Any]] | StoreUnavailable] = []
        misses = [n for n in range(len(wants)) if missing[n]]
        if misses:
            counters["misses"] += sum(len(missing[n]) for n in misses)
            fills = await asyncio.gather(
                *(self._fill(wants[n], wanted_keys[n], missing[n], results[n]) for n in misses),
                return_exceptions=True,
            )
            failed = dict(zip(misses, fills, strict=True))
        else:
            failed = {}
        for n, wanted in enumerate(wanted_keys):
            error = failed.get(n)
            if isinstance(error, StoreUnavailable):
                out.append(error)
            elif isinstance(error, BaseException):
                raise error
            else:
                result = results[n]
                out.append(result if len(result) == len(wanted) == 1
                           else {id_: result[id_] for id_ in wanted})
        return out, extra

    async def _fill(self, want: Want[Any], wanted: dict[str, str], missing: list[str],
                    result: dict[str, Fetched[Any]]) -> None:
        """The store's values of ``missing`` into ``result``, sharing fetches in flight."""
        for future, group in self._join_or_start(want.kind, wanted, missing, want.fetch).items():
            # shield: a caller whose deadline passes stops waiting, but the fetch
            # goes on for the other callers sharing it (and fills the cache).
            found = await asyncio.shield(future)
            for id_ in group:
                result[id_] = Fetched(found.get(id_), cached=False)

    def _join_or_start(
        self, kind: Kind[T], wanted: dict[str, str], missing: list[str], fetch: Fetch
    ) -> dict[asyncio.Future[Mapping[str, Any]], list[str]]:
        groups: dict[asyncio.Future[Mapping[str, Any]], list[str]] = {}
        new: list[str] = []
        for id_ in missing:
            future = self._inflight.get(wanted[id_])
            if future is None:
                new.append(id_)
            else:
                self.counters["joined"] += 1
                groups.setdefault(future, []).append(id_)
        if new:
            future = asyncio.get_running_loop().create_future()
            # Nobody may be left awaiting a failed fetch; don't warn about it then.
            future.add_done_callback(lambda f: f.cancelled() or f.exception())
            new_keys = {id_: wanted[id_] for id_ in new}
            for key in new_keys.values():
                self._inflight[key] = future
            task = asyncio.create_task(self._fetch_and_fill(kind, new_keys, fetch, future))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            groups[future] = new
        return groups

    async def _fetch_and_fill(
        self,
        kind: Kind[T],
        new_keys: dict[str, str],
        fetch: Fetch,
        future: asyncio.Future[Mapping[str, Any]],
    ) -> None:
        try:
            raw = await self._fetch(fetch, list(new_keys))
            found = {id_: kind.decode(value) for id_, value in raw.items()}
            future.set_result(found)
            entries: dict[str, tuple[bytes, float]] = {}
            for id_, key in new_keys.items():
                if id_ in raw:
                    ttl = jittered_ttl(self._ttl_s, self._jitter, self._rng)
                    entries[key] = (raw[id_], ttl)
                else:
                    ttl = jittered_ttl(self._negative_ttl_s, self._jitter, self._rng)
                    entries[key] = (NEGATIVE, ttl)
            if self.l1 is not None:
                self.l1.put_many(
                    {key: Fetched(found.get(id_), cached=True) for id_, key in new_keys.items()},
                    min(self._l1_ttl_s, self._negative_ttl_s),
                )
            await self._cache_set(entries)
        except BaseException as exc:  # noqa: B036 - hand every outcome to the waiters
            if not future.done():
                if isinstance(exc, asyncio.CancelledError):
                    future.cancel()
                else:
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        finally:
            # Only now: until the cache holds the values, newcomers join this fetch.
            for key in new_keys.values():
                if self._inflight.get(key) is future:
                    del self._inflight[key]

    async def _fetch(self, fetch: Fetch, ids: list[str]) -> Mapping[str, bytes]:
        tripped = self._store_failures >= STORE_FAILURES_TO_TRIP
        if tripped and self._clock() < self._store_down_until:
            self.counters["store_short_circuits"] += 1
            raise StoreUnavailable("the store failed repeatedly; not trying for a moment")
        self.counters["fetches"] += 1
        try:
            async with asyncio.timeout(self._fetch_timeout_s):
                found = await fetch(ids)
        except (TimeoutError, StoreUnavailable) as exc:
            self._store_failures += 1
            if self._store_failures >= STORE_FAILURES_TO_TRIP:
                if self._clock() >= self._store_down_until:
                    log.warning("store failed %d times in a row; falling back for %.1fs",
                                self._store_failures, STORE_RETRY_AFTER_S)
                self._store_down_until = self._clock() + STORE_RETRY_AFTER_S
            if isinstance(exc, TimeoutError):
                raise StoreUnavailable("store fetch timed out") from exc
            raise
        self._store_failures = 0
        return found

    async def read_live(self, cache_keys: Sequence[str]) -> dict[str, bytes] | None:
        """The cache's values of ``cache_keys`` (live values, never stored or kept in the
        L1); None when the cache cannot be read now."""
        return await self._cache_read(list(cache_keys))

    async def _cache_read(self, cache_keys: list[str]) -> dict[str, bytes] | None:
        """The hits among ``cache_keys``; None when the cache is down or failed."""
        if self._clock() < self._cache_down_until:
            self.counters["cache_skipped"] += 1
            return None
        self.counters["reads"] += 1  # cache round trips (one MGET each)
        try:
            hits = await self.cache.get_many(cache_keys)
        except CacheUnavailable as exc:
            self._cache_failed(exc)
            return None
        if not self._cache_healthy:
            self._cache_healthy = True
            log.info("cache %s answers again", self.cache.name)
        return hits

    async def _cache_set(self, entries: dict[str, tuple[bytes, float]]) -> None:
        if self._clock() < self._cache_down_until:
            return
        try:
            await self.cache.set_many(entries)
        except CacheUnavailable as exc:
            self._cache_failed(exc)

    def _cache_failed(self, exc: CacheUnavailable) -> None:
        self.counters["cache_errors"] += 1
        if self._cache_healthy:
            self._cache_healthy = False
            log.warning("cache %s unavailable (%s); serving from the store", self.cache.name, exc)
        self._cache_down_until = self._clock() + CACHE_RETRY_AFTER_S

    async def aclose(self) -> None:
        """Cancel fetches still running (shutdown); waiters see them cancelled."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
