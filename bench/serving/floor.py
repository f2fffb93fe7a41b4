"""The one-round-trip floor: echo plus ONE Redis GET of a profile-sized value per call.

Same process model as echo (serving/echo.py) and the same Redis client as recsvc's
RedisCache (redis.asyncio, hiredis parser when installed, no retries, 64 connections): what
a server that must make one Redis round trip per call cannot beat.
"""

from __future__ import annotations

import functools
from typing import Any

from serving.echo import Handler, serve_main


async def floor_handler(redis_url: str, key: str) -> Handler:
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    client = aioredis.Redis.from_url(
        redis_url, socket_timeout=0.2, socket_connect_timeout=0.2,
        retry=Retry(NoBackoff(), 0), max_connections=64, health_check_interval=30,
    )
    if await client.get(key) is None:
        raise SystemExit(f"floor: {key} is not in {redis_url}")

    async def floor(request: bytes, context: Any) -> bytes:
        await client.get(key)
        return request

    return floor


def floor_main(port: int, workers: int, loop: str, redis_url: str, key: str) -> None:
    """The floor server until SIGTERM."""
    serve_main(port, workers, loop, functools.partial(floor_handler, redis_url, key), "floor")


def put_value(redis_url: str, key: str, value: bytes) -> None:
    """Store the value the floor server reads (no expiry: the run's own redis-server)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        client.set(key, value)
    finally:
        client.close()
