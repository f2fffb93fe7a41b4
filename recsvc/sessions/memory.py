"""What the session memory holds and how it is keyed; the SessionMemory protocol.

A shopper's recent events are one cache value (newest first, one
``type<TAB>product<TAB>ts<TAB>received`` line per event), so Recommend reads them with the
profile in the same MGET. Writers (Redis: one Lua call per shopper; in-process: the same
rules in Python) prepend, trim to the bound, set the TTL, and remember each event_id for
dedup_ttl: a retried event changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Keys", "Recent", "Remember", "SessionMemory", "Shopper", "decode_recent",
           "remembered"]

# Event types kept in the memory: the ones that say what the shopper wants now. Searches
# and impressions are counted and delivered, but steer no ranking yet.
REMEMBERED = ("view", "add_to_cart", "remove_from_cart", "purchase", "click")


def remembered(event_type: str) -> bool:
    return event_type in REMEMBERED


@dataclass(frozen=True, slots=True)
class Recent:
    """One remembered event: when it happened (the client's clock) and when the service
    took it (for the event-to-visible latency)."""

    event_type: str
    product_id: str
    ts_ms: int
    received_ms: int = 0

    def line(self) -> bytes:
        return (f"{self.event_type}\t{self.product_id}\t{self.ts_ms}\t{self.received_ms}"
                .encode())


def decode_recent(*values: bytes | None) -> tuple[Recent, ...]:
    """The events of one or more stored values (a signed-in shopper's and their session's),
    newest first. Lines that do not parse are skipped (a value written by a newer
    release)."""
    out: list[Recent] = []
    for value in values:
        if not value:
            continue
        for line in value.decode(errors="replace").split("\n"):
            parts = line.split("\t")
            if len(parts) == 4 and parts[2].isdigit() and parts[3].isdigit():
                out.append(Recent(parts[0], parts[1], int(parts[2]), int(parts[3])))
    if len(values) > 1:
        out = list(dict.fromkeys(out))  # an event written under both ids counts once
    out.sort(key=lambda r: -r.ts_ms)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Shopper:
    """Whose memory: a signed-in customer, an anonymous session, or both."""

    user_id: str = ""
    session_id: str = ""


class Keys:
    """Cache keys of the memory. The shopper's id sits in a hash tag, so a shopper's value
    and the ids of their events share one Redis Cluster slot (one Lua call per shopper)."""

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix

    def of(self, shopper: Shopper) -> list[str]:
        """The value keys Recommend reads: the user's, then the session's."""
        keys = []
        if shopper.user_id:
            keys.append(self.value("u", shopper.user_id))
        if shopper.session_id:
            keys.append(self.value("s", shopper.session_id))
        return keys

    def value(self, kind: str, id_: str) -> str:
        return f"{self._prefix}:recent:{{{kind}:{id_}}}"

    def seen(self, kind: str, id_: str, event_id: str) -> str:
        # Not under ":recent:": the session mirror follows that prefix, and a dedup mark
        # changes no answer (the same hash tag keeps it in the value's cluster slot).
        return f"{self._prefix}:seen:{{{kind}:{id_}}}:{event_id}"


@dataclass(frozen=True, slots=True)
class Remember:
    """One accepted event to record for one shopper key (``kind`` "u" or "s")."""

    kind: str
    owner: str
    event_id: str
    recent: Recent | None  # None: deduplicated, not kept (a search, an impression)


class SessionMemory(Protocol):
    """Writes recent events; reads go through the cache with the profile (``keys``),
    unless this process already knows the values (``peek``)."""

    name: str
    keys: Keys

    async def start(self) -> None:
        """Start background work (following changes made elsewhere), on the running loop."""
        ...

    async def aclose(self) -> None:
        ...

    def peek(self, keys: Sequence[str]) -> dict[str, bytes] | None:
        """The values of ``keys`` as known here without a round trip (keys without
        events left out), or None when they must be read from the cache."""
        ...

    def reading(self, keys: Sequence[str]) -> object:
        """Before a read of ``keys`` from the cache: hand the result to ``read``."""
        ...

    def read(self, token: object, raw: dict[str, bytes], keys: Sequence[str]) -> None:
        """What the read started by ``reading`` returned (``raw``: the keys with values)."""
        ...

    async def remember(self, events: Sequence[Remember]) -> list[bool]:
        """Record ``events``; for each, True if its event_id is new (False: a duplicate,
        nothing changed). Raises CacheUnavailable when the backend cannot be written."""
        ...
