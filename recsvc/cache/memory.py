"""In-process caches: InProcessCache (TTL + LRU size bound) and NullCache (caching disabled)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence

__all__ = ["InProcessCache", "NullCache"]


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

    async def delete(self, keys: Sequence[str]) -> None:
        for key in keys:
            self._entries.pop(key, None)

    async def ping(self) -> None:
        return None

    async def aclose(self) -> None:
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
