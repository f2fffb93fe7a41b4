"""recsvc's own counters, scraped from its /metrics (RECSVC_METRICS_PORT) around each
slice: how many Recommend answers came from the memo of finished answers."""

from __future__ import annotations

import re
import urllib.request
from collections import Counter

_LINE = re.compile(r'^recsvc_recommend_events_total\{event="([^"]+)"\} (\S+)$', re.M)
SOURCES = ("cache", "store", "fallback", "session")


def scrape(port: int) -> Counter[str]:
    """recsvc_recommend_events_total by event, now."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    return Counter({event: float(value) for event, value in _LINE.findall(text)})


def memo_share(delta: Counter[str]) -> float:
    """Share of Recommend answers given again from the memo (the rest were computed)."""
    answers = sum(delta[s] for s in SOURCES)
    return delta["remembered"] / answers if answers else float("nan")
