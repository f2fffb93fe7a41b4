"""The session-memory values this process read, kept while Redis says they are unchanged.

Every Recommend depends on the shopper's recent events, which any replica's Track may
change; reading them from Redis on every call made a round trip the price of every
answer, even one the memo or the L1 could give at once. Redis's client-side caching
(CLIENT TRACKING in broadcast mode on the memory's key prefix) tells this process of
every change to those keys, so a value read once stays usable until Redis says otherwise:
a shopper who tracks nothing costs no round trip for their events after the first call.

Correctness rules:
  - an invalidation can overtake the reply of a read that started before the write (they
    travel on different connections): a read leaves a placeholder, an invalidation
    removes it, and the reply is kept only if its placeholder is still there;
  - while the invalidation connection is down nothing is answered from here (callers read
    Redis as before), and everything kept is dropped when it comes back, since changes
    in between went unannounced;
  - the Track that wrote a value drops it here at once (an invalidation follows anyway).
A change made through another replica is seen here when its invalidation arrives: well
under a millisecond after the write on one network.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter, OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["SessionMirror"]

log = logging.getLogger(__name__)

CHANNEL = b"__redis__:invalidate"
RECONNECT_MIN_S = 0.1
RECONNECT_MAX_S = 5.0


class _Pending:
    """A read in flight for a key (identity matters: each read has its own)."""

    __slots__ = ()


class SessionMirror:
    """Values by key (b"" for no events), bounded: the longest since read from Redis go
    first (a lookup does not reorder, so the hot path stays one dict get)."""

    def __init__(self, entries: int, prefix: str) -> None:
        self._entries = entries
        self._prefix = prefix
        self._values: OrderedDict[str, bytes | _Pending] = OrderedDict()
        self.active = False
        self.counters: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self._values)

    def peek(self, keys: Sequence[str]) -> dict[str, bytes] | None:
        """The values of every key in ``keys`` (empty ones left out), or None when any
        is not known here."""
        if not self.active:
            return None
        values = self._values
        found: dict[str, bytes] = {}
        for key in keys:
            value = values.get(key)
            if value is None or isinstance(value, _Pending):
                return None
            if value:
                found[key] = value
        return found

    def reading(self, keys: Sequence[str]) -> _Pending | None:
        """Call before reading ``keys`` from Redis; hand the result to ``read``."""
        if not self.active:
            return None
        token = _Pending()
        values = self._values
        for key in keys:
            values[key] = token
            values.move_to_end(key)
        while len(values) > self._entries:
            values.popitem(last=False)
        return token

    def read(self, token: _Pending | None, raw: dict[str, bytes], keys: Iterable[str]) -> None:
        """Keep what a read started by ``reading`` returned, unless a change overtook it."""
        if token is None:
            return
        values = self._values
        for key in keys:
            if values.get(key) is token:
                values[key] = raw.get(key, b"")

    def forget(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._values.pop(key, None)

    def _invalidated(self, keys: list[bytes] | None) -> None:
        self.counters["invalidations"] += 1
        if keys is None:  # FLUSHALL / FLUSHDB: everything may have changed
            self._values.clear()
            return
        for key in keys:
            self._values.pop(key.decode(errors="replace"), None)

    async def follow(self, pool: Any) -> None:
        """Listen for invalidations until cancelled, reconnecting with back-off; ``pool``
        is the redis.asyncio connection pool of the session memory's Redis."""
        delay = RECONNECT_MIN_S
        while True:
            conn = pool.connection_class(
                **{**pool.connection_kwargs, "protocol": 2, "socket_timeout": None})
            try:
                await self._subscribe(conn)
                delay = RECONNECT_MIN_S
                while True:
                    message = await conn.read_response()
                    if isinstance(message, list) and len(message) == 3 \
                            and message[0] == b"message" and message[1] == CHANNEL:
                        self._invalidated(message[2])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: drop everything, retry
                if self.active or not self.counters["reconnects"]:
                    # Lost, or never had (e.g. CLIENT TRACKING not allowed): said once.
                    log.warning("session invalidations lost (%s: %s); reading Redis per call",
                                type(exc).__name__, exc)
                self.active = False
                self._values.clear()
                self.counters["reconnects"] += 1
            finally:
                await conn.disconnect()
            await asyncio.sleep(random.uniform(delay / 2, delay))
            delay = min(RECONNECT_MAX_S, delay * 2)

    async def _subscribe(self, conn: Any) -> None:
        await conn.connect()
        await conn.send_command("CLIENT", "ID")
        client_id = await conn.read_response()
        await conn.send_command("CLIENT", "TRACKING", "ON", "REDIRECT", client_id, "BCAST",
                                "PREFIX", f"{self._prefix}:recent:")
        reply = await conn.read_response()
        if reply not in (b"OK", "OK"):
            raise RuntimeError(f"CLIENT TRACKING refused: {reply!r}")
        await conn.send_command("SUBSCRIBE", CHANNEL)
        await conn.read_response()
        # Changes before this moment went unannounced: start empty.
        self._values.clear()
        if not self.active:
            log.info("following session changes through Redis invalidations")
        self.active = True
