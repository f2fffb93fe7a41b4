"""Prometheus metrics: per-call counters and latency histograms, plus the domain counters
(cache, store, fallback, generation) read from the objects that keep them at scrape time."""

from __future__ import annotations

import bisect
import logging
import threading
from collections import Counter as CounterDict
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import start_http_server
from prometheus_client.registry import Collector

from recsvc.sessions.visibility import BUCKETS_S as VISIBLE_BUCKETS_S

__all__ = ["Metrics"]

log = logging.getLogger(__name__)

# Recommend answers in ~1 ms from the cache and ~5-50 ms from DynamoDB; deadlines are
# ~100-300 ms: buckets resolve both ends.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.0, 2.5,
)


class _Domain(Collector):
    """Counters the domain objects keep anyway (plain Counters, no per-call metric cost),
    exported when Prometheus scrapes."""

    def __init__(self, sources: dict[str, Callable[[], CounterDict[str]]],
                 generation: Callable[[], str | None],
                 gauges: dict[str, tuple[str, Callable[[], float]]],
                 visible: Callable[[], tuple[list[int], float] | None]) -> None:
        self._sources = sources
        self._generation = generation
        self._gauges = gauges
        self._visible = visible

    def collect(self) -> Iterator[Any]:
        for component, read in self._sources.items():
            family = CounterMetricFamily(
                f"recsvc_{component}_events", f"{component} events by kind", labels=["event"]
            )
            for event, value in sorted(read().items()):
                family.add_metric([event], float(value))
            yield family
        counters = self._sources.get("cache", CounterDict)()
        hits = counters["hits"] + counters["negative_hits"]
        lookups = hits + counters["misses"]
        ratio = GaugeMetricFamily(
            "recsvc_cache_hit_ratio", "cache hits / lookups since start (L1 and Redis)"
        )
        ratio.add_metric([], hits / lookups if lookups else 0.0)
        yield ratio
        for name, (help_, read_gauge) in self._gauges.items():
            gauge = GaugeMetricFamily(f"recsvc_{name}", help_)
            gauge.add_metric([], float(read_gauge()))
            yield gauge
        visible = self._visible()
        if visible is not None:
            counts, total = visible
            histogram = HistogramMetricFamily(
                "recsvc_event_visible_seconds",
                "from Track taking an event to the first answer (of this process) using it",
            )
            histogram.add_metric([], _cumulative(VISIBLE_BUCKETS_S, counts), sum_value=total)
            yield histogram
        served = GaugeMetricFamily(
            "recsvc_generation_served", "1 for the generation being served", labels=["generation"]
        )
        generation = self._generation()
        if generation:
            served.add_metric([generation], 1.0)
        yield served


class Metrics:
    """One registry per server (tests run several servers in one process).

    Per-call figures are kept in plain dicts and lists by ``observe`` (no locks, no
    prometheus_client objects on the hot path: its Counter and Histogram cost ~30 µs a
    call, 6% of a cached Recommend) and exported when Prometheus scrapes. Only the event
    loop thread writes; a scrape reads a possibly one-call-stale snapshot."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        # (method, code, source) -> calls
        self.calls: dict[tuple[str, str, str], int] = {}
        # method -> [count per bucket (last: +Inf)], sum of seconds
        self.latency: dict[str, tuple[list[int], list[float]]] = {}
        self.registry.register(_Calls(self))
        self._http: Any = None
        self._thread: threading.Thread | None = None

    def observe(self, method: str, code: str, source: str, seconds: float) -> None:
        key = (method, code, source)
        self.calls[key] = self.calls.get(key, 0) + 1
        found = self.latency.get(method)
        if found is None:
            found = self.latency[method] = ([0] * (len(LATENCY_BUCKETS) + 1), [0.0])
        found[0][bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        found[1][0] += seconds

    def add_domain(self, sources: dict[str, Callable[[], CounterDict[str]]],
                   generation: Callable[[], str | None],
                   gauges: dict[str, tuple[str, Callable[[], float]]] | None = None,
                   visible: Callable[[], tuple[list[int], float] | None] = lambda: None,
                   ) -> None:
        """``sources``: counters by component; ``gauges``: name -> (help, read);
        ``visible``: the event-to-visible histogram's (counts per bucket, sum)."""
        self.registry.register(_Domain(sources, generation, gauges or {}, visible))

    def serve(self, host: str, port: int) -> int:
        """Serve /metrics over HTTP from a daemon thread; returns the bound port."""
        self._http, self._thread = start_http_server(port, host, registry=self.registry)
        bound = int(self._http.server_address[1])
        log.info("metrics on http://%s:%d/metrics", host, bound)
        return bound

    def close(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None


class _Calls(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics

    def collect(self) -> Iterator[Any]:
        calls = CounterMetricFamily(
            "recsvc_requests", "calls by method, status code and answer source",
            labels=["method", "code", "source"],
        )
        for (method, code, source), n in sorted(dict(self._m.calls).items()):
            calls.add_metric([method, code, source], float(n))
        yield calls
        latency = HistogramMetricFamily(
            "recsvc_request_seconds", "call latency by method", labels=["method"]
        )
        for method, (counts, total) in sorted(dict(self._m.latency).items()):
            latency.add_metric([method], _cumulative(LATENCY_BUCKETS, counts),
                               sum_value=total[0])
        yield latency


def _cumulative(bounds: tuple[float, ...], counts: list[int]) -> list[tuple[str, float]]:
    """Per-bucket counts (the last: above every bound) as Prometheus' cumulative buckets."""
    cumulative, buckets = 0, []
    for bound, n in zip((*bounds, float("inf")), list(counts), strict=True):
        cumulative += n
        buckets.append(("+Inf" if bound == float("inf") else repr(bound), float(cumulative)))
    return buckets
