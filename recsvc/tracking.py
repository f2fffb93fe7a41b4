"""The Track use case: record accepted events in the shopper's session memory (dedup by
event_id) and hand them to the nightly job's delivery; one outcome per event."""

from __future__ import annotations

import enum
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from clickstream import EventRecord
from recsvc.delivery import EventSink
from recsvc.errors import CacheUnavailable
from recsvc.sessions import Recent, SessionMemory
from recsvc.sessions.memory import Remember, remembered

__all__ = ["EventIntake", "Outcome", "Rejected", "TrackResult"]


class Outcome(enum.Enum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Rejected:
    """An event that failed validation: ``reason`` names the field."""

    event_id: str
    event_type: str
    reason: str


@dataclass(frozen=True, slots=True)
class TrackResult:
    # (event_id, outcome, reason) per event, in the request's order.
    outcomes: tuple[tuple[str, Outcome, str], ...]
    # False: the session memory could not be written (events still delivered).
    sessions_updated: bool


class EventIntake:
    """Session memory first (it decides what is a duplicate), then delivery. Without the
    memory every valid event is accepted and delivered: the nightly job must not lose
    events because Redis is away (duplicates are then possible, and said so)."""

    def __init__(self, sessions: SessionMemory, sink: EventSink) -> None:
        self._sessions = sessions
        self._sink = sink
        # "<type>_<outcome>" -> events; "session_write_errors" -> calls.
        self.counters: Counter[str] = Counter()

    async def track(self, events: Sequence[EventRecord | Rejected]) -> TrackResult:
        valid = [e for e in events if isinstance(e, EventRecord)]
        updated = True
        try:
            now_ms = int(time.time() * 1000)
            fresh = await self._sessions.remember([_remember(e, now_ms) for e in valid])
        except CacheUnavailable:
            self.counters["session_write_errors"] += 1
            fresh, updated = [True] * len(valid), False
        is_new = {id(e): f for e, f in zip(valid, fresh, strict=True)}
        self._sink.offer([e.to_json_line() for e in valid if is_new[id(e)]])
        outcomes = []
        for e in events:
            if isinstance(e, Rejected):
                outcome, reason = Outcome.REJECTED, e.reason
            else:
                outcome = Outcome.ACCEPTED if is_new[id(e)] else Outcome.DUPLICATE
                reason = ""
            self.counters[f"{e.event_type or 'unknown'}_{outcome.value}"] += 1
            outcomes.append((e.event_id, outcome, reason))
        return TrackResult(tuple(outcomes), updated)


def _remember(e: EventRecord, now_ms: int) -> Remember:
    """Signed-in shoppers' events are kept under the user (they follow them across
    devices), anonymous ones under the session."""
    kind, owner = ("u", e.user_id) if e.user_id else ("s", e.session_id)
    recent = (Recent(e.event_type, e.product_id, e.ts, now_ms)
              if remembered(e.event_type) else None)
    return Remember(kind, owner, e.event_id, recent)
