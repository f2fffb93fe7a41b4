"""Which layer answered: counters scraped from recsvc's /metrics and the run's redis-server,
before and after a scenario's measured slices, and the shares computed from the difference.

Read from the live exposition, not assumed: every ``recsvc_<component>_events{event=...}``
family is kept whatever its component (an unknown one, say ``recsvc_catalogue_events``,
lands in the JSON as it is); names missing from a scrape count as 0.
"""

from __future__ import annotations

import re
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

EVENTS = re.compile(r"^recsvc_(\w+)_events$")


@dataclass
class Snapshot:
    """Counters at one moment: events by component, Recommend calls, Redis commands."""

    events: dict[str, Counter[str]] = field(default_factory=dict)
    calls: float = 0.0
    redis: Counter[str] = field(default_factory=Counter)
    # Unlabelled gauges (recsvc_catalogue_products, ...), added up over workers.
    gauges: Counter[str] = field(default_factory=Counter)
    generations: set[str] = field(default_factory=set)

    def minus(self, earlier: Snapshot) -> Snapshot:
        """The counters' increase since ``earlier``; gauges as they are now."""
        events = {c: _sub(v, earlier.events.get(c, Counter())) for c, v in self.events.items()}
        return Snapshot(events, self.calls - earlier.calls, _sub(self.redis, earlier.redis),
                        self.gauges, self.generations)


def _sub(a: Counter[str], b: Counter[str]) -> Counter[str]:
    return Counter({k: a[k] - b.get(k, 0) for k in a})


def scrape(metrics_urls: list[str], redis_url: str | None) -> Snapshot:
    """Counters of every worker's /metrics (added up) and the Redis command counts."""
    from prometheus_client.parser import text_string_to_metric_families

    snap = Snapshot()
    for url in metrics_urls:
        with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - loopback
            text = answer.read().decode()
        for family in text_string_to_metric_families(text):
            if family.type == "gauge":
                for sample in family.samples:
                    if not sample.labels:
                        snap.gauges[sample.name] += sample.value
                    elif sample.name == "recsvc_generation_served" and sample.value:
                        snap.generations.add(sample.labels.get("generation", ""))
                continue
            found = EVENTS.match(family.name)
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue
                if found and "event" in sample.labels:
                    component = snap.events.setdefault(found.group(1), Counter())
                    component[sample.labels["event"]] += sample.value
                elif (family.name == "recsvc_requests"
                      and sample.labels.get("method", "").endswith("Recommend")):
                    snap.calls += sample.value
    if redis_url:
        snap.redis = redis_commands(redis_url)
    return snap


def ready(metrics_urls: list[str], timeout_s: float) -> bool:
    """Wait until every worker serves a generation and holds its start-up data (where
    the service has it, its in-process catalogue: recsvc_catalogue_products > 0, loaded
    with the popular lists); False if that does not happen within ``timeout_s`` (a
    start-up load that timed out is not retried until the next generation)."""
    deadline = time.monotonic() + timeout_s
    waiting = list(metrics_urls)
    while waiting:
        try:
            snap = scrape(waiting[:1], None)
        except OSError:
            snap = None
        catalogue = snap.gauges.get("recsvc_catalogue_products") if snap else None
        if snap is not None and snap.generations and (catalogue is None or catalogue > 0):
            waiting.pop(0)
            continue
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
    return True


def redis_commands(redis_url: str) -> Counter[str]:
    """Calls per command since the redis-server started (INFO commandstats)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        stats = client.info("commandstats")
    finally:
        client.close()
    return Counter({name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()})


def _share(part: float, whole: float) -> float | None:
    return round(part / whole, 3) if whole else None


def shares(delta: Snapshot, client_calls: int, recsvc: bool = True) -> dict[str, Any]:
    """The layers' shares over the measured slices.

    memo: answers given again from the answer memo, per Recommend call. l1 / redis /
    store: of the cache-aside key lookups (profile, neighbours, facts, popular), the share
    the in-process L1 answered, the share Redis answered, and the share fetched from the
    store (misses; negative entries count as hits where they were found). lookups/call:
    per call not answered by the memo. redis_reads/call: GET+MGET commands the run's
    redis-server saw per call (session memory reads included). Sources: the server's
    count of answers by source, per call. Not ``recsvc`` (the floor server): the Redis
    figures alone, per call the clients completed."""
    calls = delta.calls or float(client_calls)
    reads = delta.redis["get"] + delta.redis["mget"]
    redis_only = {
        "redis_reads_per_call": _share(reads, calls),
        "redis_writes_per_call": _share(delta.redis["set"], calls),
        "redis_commands": {k: int(v) for k, v in sorted(delta.redis.items()) if v},
    }
    if not recsvc:
        return {"client_calls": client_calls, **redis_only}
    cache = delta.events.get("cache", Counter())
    recommend = delta.events.get("recommend", Counter())
    found = cache["hits"] + cache["negative_hits"]
    lookups = found + cache["misses"]
    computed = calls - recommend["remembered"]
    return {
        "server_calls": int(delta.calls),
        "memo": _share(recommend["remembered"], calls),
        "l1": _share(cache["l1_hits"], lookups),
        "redis": _share(found - cache["l1_hits"], lookups),
        "store": _share(cache["misses"], lookups),
        "negative": _share(cache["negative_hits"], lookups),
        "lookups_per_call": _share(lookups, computed),
        "store_fetches_per_call": _share(cache["fetches"], calls),
        "sources": {s: _share(recommend[s], calls)
                    for s in ("cache", "store", "session", "fallback") if recommend[s]},
        "gauges": {k: v for k, v in sorted(delta.gauges.items())},
        "events": {c: {k: int(v) for k, v in sorted(e.items()) if v}
                   for c, e in sorted(delta.events.items())},
        **redis_only,
    }
