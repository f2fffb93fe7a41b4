"""The EventSink protocol: where Track hands accepted events (JSON lines) for the nightly
job, plus NullSink for a service configured without a delivery stream."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

__all__ = ["COUNTERS", "EventSink", "NullSink"]

# Every counter a sink keeps, present from the start (at 0) so /metrics shows the series
# before the first event. Between event-loop steps, offered = sent + dropped_* + depth.
COUNTERS = (
    "offered",  # records handed to offer()
    "sent",  # records Firehose accepted
    "batches",  # PutRecordBatch calls that got an answer (possibly a partial failure)
    "batch_failures",  # calls that failed whole (connection, timeout, throttling)
    "record_failures",  # records an answer marked failed (retried if attempts remain)
    "retries",  # calls repeated after a failure
    "dropped_overflow",  # oldest records dropped because the buffer was full
    "dropped_failed",  # records dropped after the last attempt
    "dropped_oversize",  # records over Firehose's per-record limit (never sendable)
    "dropped_close",  # records still buffered when aclose() ran out of time
    "dropped_closed",  # records offered after aclose()
)


@runtime_checkable
class EventSink(Protocol):
    """Buffers JSON lines and delivers them in the background.

    ``offer`` is called on the event loop by Track: it must return at once and never
    raise, whatever the destination is doing (a full buffer drops and counts). Delivery
    is at-least-once per record while it works and lossy, counted, when it does not:
    the nightly job tolerates missing events, the service must not stall for them."""

    name: str
    counters: Counter[str]

    def offer(self, lines: Sequence[bytes]) -> None:
        """Queue newline-terminated JSON lines; never blocks, never raises."""
        ...

    async def start(self) -> None:
        """Start background delivery (needs the running loop)."""
        ...

    async def aclose(self) -> None:
        """Flush what is buffered within a short bound, then stop and release clients.
        Safe without start() and when called twice."""
        ...

    @property
    def depth(self) -> int:
        """Records buffered now (waiting and in flight)."""
        ...


class NullSink:
    """No delivery stream configured: events are counted and discarded."""

    name = "null"

    def __init__(self) -> None:
        self.counters: Counter[str] = Counter(offered=0, discarded=0)

    def offer(self, lines: Sequence[bytes]) -> None:
        self.counters["offered"] += len(lines)
        self.counters["discarded"] += len(lines)

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    @property
    def depth(self) -> int:
        return 0
