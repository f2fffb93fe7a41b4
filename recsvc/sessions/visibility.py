"""Event-to-visible latency: from Track taking an event to the first answer of this
process that used it, as histogram counts (exported by the metrics at scrape time)."""

from __future__ import annotations

import bisect
import time
from collections import OrderedDict
from collections.abc import Sequence

from recsvc.sessions.memory import Recent

__all__ = ["BUCKETS_S", "Visibility"]

BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Events older than this when first used say more about the shopper's pace than ours.
HORIZON_MS = 60_000
# Events already counted, remembered to count each once (per process).
REMEMBERED = 10_000


class Visibility:
    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS_S) + 1)
        self.total_s = 0.0
        self._seen: OrderedDict[tuple[str, int], None] = OrderedDict()

    def used(self, recent: Sequence[Recent]) -> None:
        """An answer used ``recent``: count each event's first use."""
        now_ms = int(time.time() * 1000)
        for r in recent:
            age_ms = now_ms - r.received_ms
            if not r.received_ms or age_ms > HORIZON_MS:
                break  # newest first: the rest are older
            key = (r.product_id, r.received_ms)
            if key in self._seen:
                continue
            self._seen[key] = None
            if len(self._seen) > REMEMBERED:
                self._seen.popitem(last=False)
            seconds = max(age_ms, 0) / 1000
            self.counts[bisect.bisect_left(BUCKETS_S, seconds)] += 1
            self.total_s += seconds
