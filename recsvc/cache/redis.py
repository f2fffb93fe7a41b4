"""RedisCache: the shared cache on Redis/ElastiCache (redis.asyncio), one round trip per batch."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisClusterException, RedisError

from recsvc.errors import CacheUnavailable

__all__ = ["RedisCache"]

# Connections per process; a request holds one for one round trip.
MAX_CONNECTIONS = 64


class RedisCache:
    """Bytes in, bytes out. Timeouts are short and there are no client-side retries:
    a slow or dead Redis must cost a request at most one timeout, after which the
    value comes from the store."""

    name = "redis"

    def __init__(self, client: aioredis.Redis | RedisCluster) -> None:
        self._client: Any = client
        self._cluster = isinstance(client, RedisCluster)
        self._scripts: dict[str, Any] = {}

    @classmethod
    def from_url(cls, url: str, timeout_s: float, *, cluster: bool = False) -> RedisCache:
        if cluster:
            # ElastiCache cluster mode: the client learns the slot map from any node and
            # sends each key to its shard; multi-key commands are split per slot.
            return cls(RedisCluster.from_url(
                url,
                socket_timeout=timeout_s,
                socket_connect_timeout=timeout_s,
                retry=Retry(NoBackoff(), 0),
                max_connections=MAX_CONNECTIONS,
            ))
        client = aioredis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            # redis-py retries 10 times by default; a cache miss is cheaper than waiting.
            retry=Retry(NoBackoff(), 0),
            max_connections=MAX_CONNECTIONS,
            health_check_interval=30,
        )
        return cls(client)

    async def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        if not keys:
            return {}
        try:
            if self._cluster:
                # Keys of one request live in different slots: one MGET per slot,
                # sent concurrently (CROSSSLOT otherwise).
                values = await self._client.mget_nonatomic(list(keys))
            else:
                values = await self._client.mget(list(keys))
        except (RedisError, RedisClusterException, OSError) as exc:
            raise CacheUnavailable(f"redis MGET failed: {type(exc).__name__}") from exc
        # decode_responses is off: values come back as bytes.
        return {k: v for k, v in zip(keys, values, strict=True) if isinstance(v, bytes)}

    async def set_many(self, entries: Mapping[str, tuple[bytes, float]]) -> None:
        if not entries:
            return
        try:
            # One round trip; no MULTI (entries are independent).
            async with self._client.pipeline(transaction=False) as pipe:
                for key, (value, ttl_s) in entries.items():
                    pipe.set(key, value, px=max(1, math.ceil(ttl_s * 1000)))
                await pipe.execute()
        except (RedisError, RedisClusterException, OSError) as exc:
            raise CacheUnavailable(f"redis SET pipeline failed: {type(exc).__name__}") from exc

    async def delete(self, keys: Sequence[str]) -> None:
        if not keys:
            return
        try:
            # The cluster client splits DEL per slot itself.
            await self._client.delete(*keys)
        except (RedisError, RedisClusterException, OSError) as exc:
            raise CacheUnavailable(f"redis DEL failed: {type(exc).__name__}") from exc

    @property
    def pool(self) -> Any:
        """The connection pool of a single-node client (connection settings for a
        dedicated connection: TLS, auth); None in cluster mode."""
        return None if self._cluster else self._client.connection_pool

    @property
    def cluster(self) -> bool:
        """Cluster mode: a multi-key command must keep to one slot."""
        return self._cluster

    async def run_script(
        self, lua: str, calls: Sequence[tuple[Sequence[str], Sequence[Any]]]
    ) -> list[Any]:
        """Run the Lua script ``lua`` once per (keys, args), all at once: one EVALSHA each
        (loaded on NOSCRIPT only; a pipeline would ask SCRIPT EXISTS first, every time).
        Each call's keys must share a cluster slot (a hash tag)."""
        if not calls:
            return []
        script = self._scripts.get(lua)
        if script is None:
            script = self._scripts[lua] = self._client.register_script(lua)
        try:
            if len(calls) == 1:
                keys, args = calls[0]
                return [await script(keys=list(keys), args=list(args))]
            return list(await asyncio.gather(
                *(script(keys=list(k), args=list(a)) for k, a in calls)))
        except (RedisError, RedisClusterException, OSError) as exc:
            raise CacheUnavailable(f"redis script failed: {type(exc).__name__}") from exc

    async def ping(self) -> None:
        try:
            await self._client.ping()
        except (RedisError, RedisClusterException, OSError) as exc:
            raise CacheUnavailable(f"redis PING failed: {type(exc).__name__}") from exc

    async def aclose(self) -> None:
        await self._client.aclose()
