"""Caches in front of the profile store: the Cache protocol, backends, and ``open_cache``."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from recsvc.cache.base import Cache, CacheUnavailable
from recsvc.cache.memory import InProcessCache, NullCache

if TYPE_CHECKING:
    from recsvc.settings import Settings

__all__ = ["Cache", "CacheUnavailable", "InProcessCache", "NullCache", "open_cache"]

log = logging.getLogger(__name__)


async def open_cache(settings: Settings) -> Cache:
    """The cache ``settings.cache`` asks for. ``auto``: Redis if it answers a PING now,
    else the in-process cache. The caller owns it: ``await cache.aclose()``."""
    if settings.cache == "none":
        return NullCache()
    if settings.cache == "memory":
        return InProcessCache(settings.memory_cache_entries)
    from recsvc.cache.redis import RedisCache

    redis = RedisCache.from_url(
        settings.redis_url, settings.redis_timeout_s, cluster=settings.redis_cluster
    )
    if settings.cache == "redis":
        # Explicitly asked for: use it even if it is down now (misses until it is back).
        return redis
    try:
        await redis.ping()
    except CacheUnavailable as exc:
        await redis.aclose()
        log.warning("Redis does not answer (%s): using the in-process cache", exc)
        return InProcessCache(settings.memory_cache_entries)
    return redis
