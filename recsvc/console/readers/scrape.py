"""One scrape of the service's Prometheus endpoints: the counters the live figures need,
summed over every address the endpoints' host names resolve to (one per task)."""

from __future__ import annotations

import asyncio
import socket
from collections import defaultdict
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["Sample", "parse", "scrape"]

# (method, code, source) -> calls; method -> {upper bound: cumulative count}; event -> n
Calls = dict[tuple[str, str, str], float]
Buckets = dict[str, dict[float, float]]


@dataclass
class Sample:
    taken_at: float
    calls: Calls = field(default_factory=lambda: defaultdict(float))
    latency: Buckets = field(default_factory=lambda: defaultdict(lambda: defaultdict(float)))
    cache: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    endpoints: int = 0


def parse(text: str, into: Sample) -> None:
    """Add one endpoint's exposition to ``into``."""
    for family in text_string_to_metric_families(text):
        if family.name == "recsvc_requests":
            for s in family.samples:
                if s.name.endswith("_total"):
                    key = (s.labels["method"], s.labels["code"], s.labels["source"])
                    into.calls[key] += s.value
        elif family.name == "recsvc_request_seconds":
            for s in family.samples:
                if s.name.endswith("_bucket"):
                    into.latency[s.labels["method"]][float(s.labels["le"])] += s.value
        elif family.name == "recsvc_cache_events":
            for s in family.samples:
                if s.name.endswith("_total"):
                    into.cache[s.labels["event"]] += s.value
    into.endpoints += 1


async def _addresses(url: str) -> list[str]:
    """The URL once per address its host resolves to: a Cloud Map name answers with every
    task's address, a plain host with one."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 80
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found = sorted({str(info[4][0]) for info in infos})
    out = []
    for address in found:
        netloc = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
        out.append(urlunsplit(parts._replace(netloc=netloc)))
    return out


async def scrape(session: aiohttp.ClientSession, urls: tuple[str, ...], taken_at: float
                 ) -> tuple[Sample, list[str]]:
    """(the summed sample, one error per endpoint that did not answer: type only)."""
    sample = Sample(taken_at)
    errors: list[str] = []
    targets: list[str] = []
    for url in urls:
        try:
            targets.extend(await _addresses(url))
        except OSError as exc:
            errors.append(f"resolving a metrics host failed: {type(exc).__name__}")

    async def one(target: str) -> str:
        async with session.get(target) as resp:
            resp.raise_for_status()
            return await resp.text()

    answers = await asyncio.gather(*(one(t) for t in targets), return_exceptions=True)
    for answer in answers:
        if isinstance(answer, BaseException):
            errors.append(f"a metrics endpoint did not answer: {type(answer).__name__}")
        else:
            try:
                parse(answer, sample)
            except ValueError as exc:
                errors.append(f"unreadable metrics: {type(exc).__name__}")
    return sample, errors
