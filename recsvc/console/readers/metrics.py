"""Live service figures from the service's own metrics: scraped every few seconds in the
background, kept for a window, and turned into rates between the window's two ends."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass

import aiohttp

from recsvc.console.readers.scrape import Sample, scrape

__all__ = ["LiveFigures", "MetricsWatcher", "live_figures"]

log = logging.getLogger(__name__)

RECOMMEND = "/Recommend"


@dataclass(frozen=True, slots=True)
class LiveFigures:
    window_s: float
    endpoints: int
    calls_per_s: float
    # None when nothing was looked up / recommended / timed in the window.
    cache_hit_ratio: float | None
    fallback_share: float | None
    p99_ms: float | None


def _delta(new: float, old: float) -> float:
    # A counter that went down belongs to a restarted process: it counted from zero.
    return new - old if new >= old else new


def _p99(buckets: dict[float, float]) -> float | None:
    """The 99th percentile of a histogram's (window) buckets, interpolated linearly in
    the bucket that holds it, as Prometheus' histogram_quantile does; the largest finite
    bound when it falls in +Inf."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]] if bounds else 0.0
    if total <= 0:
        return None
    rank = 0.99 * total
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if bound == float("inf"):
                return lower
            inside = count - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, count
    return lower


def live_figures(old: Sample, new: Sample) -> LiveFigures:
    span = max(new.taken_at - old.taken_at, 1e-9)
    calls = {k: _delta(v, old.calls.get(k, 0.0)) for k, v in new.calls.items()}
    recommend = {k: v for k, v in calls.items() if k[0].endswith(RECOMMEND)}
    recommended = sum(recommend.values())
    fallback = sum(v for k, v in recommend.items() if k[2] == "fallback")
    cache = {k: _delta(v, old.cache.get(k, 0.0)) for k, v in new.cache.items()}
    hits = cache.get("hits", 0.0) + cache.get("negative_hits", 0.0)
    lookups = hits + cache.get("misses", 0.0)
    latency: dict[float, float] = {}
    for method, buckets in new.latency.items():
        if method.endswith(RECOMMEND):
            before = old.latency.get(method, {})
            for bound, n in buckets.items():
                latency[bound] = latency.get(bound, 0.0) + _delta(n, before.get(bound, 0.0))
    p99 = _p99(latency)
    return LiveFigures(
        window_s=span,
        endpoints=new.endpoints,
        calls_per_s=sum(calls.values()) / span,
        cache_hit_ratio=hits / lookups if lookups else None,
        fallback_share=fallback / recommended if recommended else None,
        p99_ms=p99 * 1000 if p99 is not None else None,
    )


class MetricsWatcher:
    """Scrapes in a background task; ``figures()`` reads what it kept (no request waits
    for a scrape)."""

    def __init__(self, urls: tuple[str, ...], interval_s: float, window_s: float) -> None:
        self._urls = urls
        self._interval_s = interval_s
        self._samples: deque[Sample] = deque(maxlen=max(2, int(window_s / interval_s) + 1))
        self._task: asyncio.Task[None] | None = None
        self.errors: list[str] = []

    @property
    def configured(self) -> bool:
        return bool(self._urls)

    def start(self) -> None:
        if self._urls and self._task is None:
            self._task = asyncio.create_task(self._run(), name="console-metrics")

    async def _run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=max(1.0, self._interval_s * 0.8))
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                try:
                    sample, errors = await scrape(session, self._urls, time.monotonic())
                except Exception:  # keep watching: the next scrape may succeed
                    log.exception("scraping the service's metrics failed")
                    sample, errors = None, ["scraping failed"]
                if errors:
                    log.warning("metrics scrape", extra={"fields": {"errors": errors}})
                self.errors = errors
                if sample is not None and sample.endpoints:
                    self._samples.append(sample)
                await asyncio.sleep(self._interval_s)

    def figures(self) -> LiveFigures | None:
        """Rates over the kept window; None until two scrapes answered."""
        if len(self._samples) < 2:
            return None
        return live_figures(self._samples[0], self._samples[-1])

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
