"""SessionMemory writers and open_sessions: RedisSessions (one Lua call per shopper, all
in one round trip) and LocalSessions (the same rules over the in-process cache)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from recsvc.cache import Cache
from recsvc.cache.memory import InProcessCache
from recsvc.cache.redis import RedisCache
from recsvc.errors import CacheUnavailable
from recsvc.sessions.memory import Keys, Remember, SessionMemory
from recsvc.sessions.mirror import SessionMirror

if TYPE_CHECKING:
    from recsvc.settings import Settings

__all__ = ["LocalSessions", "NoSessions", "RedisSessions", "open_sessions"]

# For each shopper (group) in turn, KEYS: their value, then one "seen" key per event.
# ARGV[1]: events kept, ARGV[2]: the seen keys' TTL (ms), ARGV[3]: the number of groups;
# then per group: the value's TTL (ms), its event count, and one line per event ("" when
# not kept). Returns 1 (new) or 0 (duplicate) per event, in order. One call carries every
# shopper of a Track call on a single Redis; in cluster mode, one call per shopper (its
# keys share a hash tag, so a slot).
REMEMBER_LUA = """
local limit, dedup, groups = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local k, a, fresh = 1, 4, {}
for _ = 1, groups do
  local value_key, ttl, n = KEYS[k], ARGV[a], tonumber(ARGV[a + 1])
  k, a = k + 1, a + 2
  local add = {}
  for _ = 1, n do
    if redis.call('SET', KEYS[k], '1', 'NX', 'PX', dedup) then
      fresh[#fresh + 1] = 1
      if ARGV[a] ~= '' then table.insert(add, 1, ARGV[a]) end
    else
      fresh[#fresh + 1] = 0
    end
    k, a = k + 1, a + 1
  end
  if #add > 0 then
    local blob = table.concat(add, '\\n')
    local current = redis.call('GET', value_key)
    if current and #current > 0 then blob = blob .. '\\n' .. current end
    local kept, pos = 0, 0
    while true do
      local nl = string.find(blob, '\\n', pos + 1, true)
      kept = kept + 1
      if not nl then break end
      if kept >= limit then blob = string.sub(blob, 1, nl - 1) break end
      pos = nl
    end
    redis.call('SET', value_key, blob, 'PX', ttl)
  end
end
return fresh
"""


def _by_owner(events: Sequence[Remember]) -> dict[tuple[str, str], list[int]]:
    """Positions of ``events`` grouped by shopper key, in order."""
    groups: dict[tuple[str, str], list[int]] = {}
    for n, e in enumerate(events):
        groups.setdefault((e.kind, e.owner), []).append(n)
    return groups


class _Limits:
    def __init__(self, settings: Settings) -> None:
        self.kept = settings.session_events
        self.dedup_ttl_s = settings.dedup_ttl_s
        self._ttl_s = {"u": settings.user_session_ttl_s, "s": settings.session_ttl_s}

    def ttl_s(self, kind: str) -> float:
        return self._ttl_s[kind]


class RedisSessions:
    """Shared by every replica: Track in one task counts on the next call to any task."""

    name = "redis"

    def __init__(self, cache: RedisCache, settings: Settings) -> None:
        self._cache = cache
        self._limits = _Limits(settings)
        self.keys = Keys(settings.cache_prefix)
        # Invalidations come from one node only: not in cluster mode.
        self.mirror = (SessionMirror(settings.session_mirror_entries, settings.cache_prefix)
                       if settings.session_mirror_entries and not cache.cluster else None)
        self._following: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Follow changes to the memory (the mirror), if kept."""
        if self.mirror is not None and self._following is None:
            self._following = asyncio.create_task(self.mirror.follow(self._cache.pool))

    async def aclose(self) -> None:
        if self._following is not None:
            self._following.cancel()
            await asyncio.gather(self._following, return_exceptions=True)
            self._following = None
        if self.mirror is not None:
            self.mirror.active = False

    def peek(self, keys: Sequence[str]) -> dict[str, bytes] | None:
        return self.mirror.peek(keys) if self.mirror is not None else None

    def reading(self, keys: Sequence[str]) -> object:
        return self.mirror.reading(keys) if self.mirror is not None else None

    def read(self, token: object, raw: dict[str, bytes], keys: Sequence[str]) -> None:
        if self.mirror is not None:
            self.mirror.read(token, raw, keys)  # type: ignore[arg-type]

    async def remember(self, events: Sequence[Remember]) -> list[bool]:
        limits = self._limits
        groups = _by_owner(events)
        calls: list[tuple[list[str], list[object]]] = []
        for (kind, owner), positions in groups.items():
            if not calls or self._cache.cluster:
                calls.append(([], [limits.kept, _ms(limits.dedup_ttl_s), 0]))
            keys, args = calls[-1]
            args[2] = int(str(args[2])) + 1
            keys.append(self.keys.value(kind, owner))
            args += [_ms(limits.ttl_s(kind)), len(positions)]
            for n in positions:
                e = events[n]
                keys.append(self.keys.seen(kind, owner, e.event_id))
                args.append(e.recent.line() if e.recent is not None else b"")
        if self.mirror is not None:  # this process sees its own writes at once
            self.mirror.forget(self.keys.value(kind, owner) for kind, owner in groups)
        replies = await self._cache.run_script(REMEMBER_LUA, calls)
        if self.mirror is not None:  # and not a read that raced the write
            self.mirror.forget(self.keys.value(kind, owner) for kind, owner in groups)
        flags = [flag for reply in replies for flag in reply]
        fresh = [False] * len(events)
        order = [n for positions in groups.values() for n in positions]
        for n, flag in zip(order, flags, strict=True):
            fresh[n] = bool(flag)
        return fresh


class LocalSessions:
    """One process's memory, in the in-process cache (so Recommend reads it the same way).
    Nothing here suspends between reading and writing a value, so no lock is needed."""

    name = "memory"

    def __init__(self, cache: InProcessCache, settings: Settings) -> None:
        self._cache = cache
        self._limits = _Limits(settings)
        self.keys = Keys(settings.cache_prefix)

    async def start(self) -> None:
        pass

    async def aclose(self) -> None:
        pass

    def peek(self, keys: Sequence[str]) -> dict[str, bytes] | None:
        return self._cache.get_now(keys)

    def reading(self, keys: Sequence[str]) -> object:
        return None

    def read(self, token: object, raw: dict[str, bytes], keys: Sequence[str]) -> None:
        pass

    async def remember(self, events: Sequence[Remember]) -> list[bool]:
        limits = self._limits
        fresh = [False] * len(events)
        for (kind, owner), positions in _by_owner(events).items():
            seen_keys = [self.keys.seen(kind, owner, events[n].event_id) for n in positions]
            seen = self._cache.get_now(seen_keys)
            added: list[bytes] = []
            for n, key in zip(positions, seen_keys, strict=True):
                if key in seen:
                    continue
                fresh[n] = True
                self._cache.set_now(key, b"1", limits.dedup_ttl_s)
                seen[key] = b"1"  # the same id twice in one call: the second is a duplicate
                recent = events[n].recent
                if recent is not None:
                    added.append(recent.line())
            if added:
                key = self.keys.value(kind, owner)
                current = self._cache.get_now([key]).get(key)
                lines = [*reversed(added), *(current.split(b"\n") if current else ())]
                self._cache.set_now(key, b"\n".join(lines[: limits.kept]), limits.ttl_s(kind))
        return fresh


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


class NoSessions:
    """No shared cache to hold sessions (caching off): Track cannot record, Recommend
    reads nothing."""

    name = "none"

    def __init__(self, prefix: str) -> None:
        self.keys = Keys(prefix)

    async def start(self) -> None:
        pass

    async def aclose(self) -> None:
        pass

    def peek(self, keys: Sequence[str]) -> dict[str, bytes] | None:
        return {}

    def reading(self, keys: Sequence[str]) -> object:
        return None

    def read(self, token: object, raw: dict[str, bytes], keys: Sequence[str]) -> None:
        pass

    async def remember(self, events: Sequence[Remember]) -> list[bool]:
        raise CacheUnavailable("session memory is off (no cache configured)")


def open_sessions(settings: Settings, cache: Cache) -> SessionMemory:
    """The memory matching ``cache``: Redis holds it for every replica; the in-process
    cache holds it for this process only (one replica, or a laptop)."""
    if isinstance(cache, RedisCache):
        return RedisSessions(cache, settings)
    if isinstance(cache, InProcessCache):
        return LocalSessions(cache, settings)
    return NoSessions(settings.cache_prefix)
