"""In-process caches: InProcessCache (TTL + LRU), ObjectLRU (L1 of decoded values), NullCache."""

from __future__ import annotations

import itertools
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

__all__ = ["InProcessCache", "NullCache", "ObjectLRU"]


class InProcessCache:
    """A bounded LRU with per-key expiry, for one process. Not shared between replicas,
    so it suits data keyed by generation (never stale, only evicted)."""

    name = "memory"

    def __init__(
        self, max_entries: int = 50_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_entries < 0:
            raise ValueError("max_entries must be >= 0")
        self._max = max_entries
        self._clock = clock
        # key -> (expires at on self._clock, value); order = least recently used first.
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        return self.get_now(keys)

    def get_now(self, keys: Sequence[str]) -> dict[str, bytes]:
        """get_many without suspending: a read-modify-write stays atomic on the loop."""
        now = self._clock()
        hits: dict[str, bytes] = {}
        for key in keys:
            entry = self._entries.get(key)
            if entry is None:
                continue
            if entry[0] <= now:
                del self._entries[key]
                continue
            self._entries.move_to_end(key)
            hits[key] = entry[1]
        return hits

    async def set_many(self, entries: Mapping[str, tuple[bytes, float]]) -> None:
        if self._max == 0:
            return
        now = self._clock()
        for key, (value, ttl_s) in entries.items():
            self._entries[key] = (now + ttl_s, value)
            self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def set_now(self, key: str, value: bytes, ttl_s: float) -> None:
        """One entry, without suspending (see get_now)."""
        if self._max == 0:
            return
        self._entries[key] = (self._clock() + ttl_s, value)
        self._entries.move_to_end(key)
        if len(self._entries) > self._max:
            self._entries.popitem(last=False)

    async def delete(self, keys: Sequence[str]) -> None:
        for key in keys:
            self._entries.pop(key, None)

    async def ping(self) -> None:
        return None

    async def aclose(self) -> None:
        self._entries.clear()


class ObjectLRU:
    """A bounded map of Python objects with one expiry per entry: cache-aside's L1 of
    decoded values (no bytes, no decode on a hit). Synchronous: the hot path never
    suspends for it. One process only.

    Eviction is by insertion age, not by last use (a hit costs one dict lookup, no
    reordering): a hot entry evicted or expired comes straight back from Redis."""

    def __init__(
        self, max_entries: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be >= 1")
        self._max = max_entries
        self._clock = clock
        # dicts keep insertion order: the first key is the oldest insert.
        self._entries: dict[str, tuple[float, Any]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """The live entries among ``keys``; expired ones are dropped."""
        now = self._clock()
        entries = self._entries
        hits: dict[str, Any] = {}
        for key in keys:
            entry = entries.get(key)
            if entry is None:
                continue
            if entry[0] <= now:
                del entries[key]
                continue
            hits[key] = entry[1]
        return hits

    def put_many(self, values: Mapping[str, Any], ttl_s: float) -> None:
        expires = self._clock() + ttl_s
        entries = self._entries
        for key, value in values.items():
            entries.pop(key, None)  # re-inserted: now the youngest
            entries[key] = (expires, value)
        overflow = len(entries) - self._max
        if overflow > 0:
            for key in list(itertools.islice(entries, overflow)):
                del entries[key]

    def clear(self) -> None:
        self._entries.clear()


class NullCache:
    """Caching disabled: every get misses, every set is dropped."""

    name = "none"

    async def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        return {}

    async def set_many(self, entries: Mapping[str, tuple[bytes, float]]) -> None:
        return None

    async def delete(self, keys: Sequence[str]) -> None:
        return None

    async def ping(self) -> None:
        return None

    async def aclose(self) -> None:
        return None
