"""The Cache protocol: batched bytes get/set/delete with TTLs; every failure is CacheUnavailable."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

from recsvc.errors import CacheUnavailable

__all__ = ["Cache", "CacheUnavailable"]


@runtime_checkable
class Cache(Protocol):
    """A key-value cache of bytes. Backends are dumb: jitter, negative entries and
    single-flight live in :mod:`recsvc.cache.aside`, key naming in :mod:`recsvc.cache.keys`.

    Every backend failure or timeout raises :class:`~recsvc.errors.CacheUnavailable`
    (callers treat it as a miss); nothing else escapes."""

    #: Short name for logs: "redis", "memory", "none".
    name: str

    async def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        """The hits among ``keys`` (one round trip); misses and expired keys are absent.
        An empty bytes value is a valid hit."""
        ...

    async def set_many(self, entries: Mapping[str, tuple[bytes, float]]) -> None:
        """Store ``key -> (value, ttl seconds)`` (one round trip); TTLs are per key."""
        ...

    async def delete(self, keys: Sequence[str]) -> None:
        """Remove keys; absent keys are ignored."""
        ...

    async def ping(self) -> None:
        """Raise CacheUnavailable unless the backend answers (used at start-up)."""
        ...

    async def aclose(self) -> None:
        """Release connections. Idempotent."""
        ...
