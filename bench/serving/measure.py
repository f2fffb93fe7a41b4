"""One scenario's row: slices on the server under test alternated with echo slices, the
ratios to those echo slices, and the layers' shares over the measured slices."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from serving.echo import ECHO
from serving.layers import scrape, shares
from serving.load import drive, merge
from serving.report import summarize


@dataclass(frozen=True)
class Target:
    """A started server under test: its address, the method called, its /metrics URLs
    (none for the floor server)."""

    address: str
    method: str
    metrics_urls: list[str] = field(default_factory=list)
    ready: bool = True  # False: its start-up data was not loaded (see layers.ready)


@dataclass(frozen=True)
class Echo:
    """The echo server the slices are paired with, and what is sent to it."""

    address: str
    payloads: list[bytes]


def measure(
    name: str,
    target: Target,
    payloads: list[bytes],
    echo: Echo,
    args: argparse.Namespace,
    client_cpus: set[int] | None,
    redis_url: str,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The scenario's row (with its ratios to echo and its layers) and the echo slices
    paired with it. The server must be warmed up already."""
    before = scrape(target.metrics_urls, redis_url)
    # Alternate short slices with echo slices: a neighbour's load on this shared
    # machine then hits both sides of the ratio alike.
    mine, paired = [], []
    for _ in range(args.rounds):
        mine.append(drive(target.address, target.method, payloads, args.seconds / args.rounds,
                          args, client_cpus))
        paired.append(drive(echo.address, ECHO, echo.payloads, args.seconds / args.rounds,
                            args, client_cpus))
    after = scrape(target.metrics_urls, redis_url)
    merged = merge(mine)
    row = summarize(name, merged)
    echo_row = summarize("echo", merge(paired))
    row["ratio_qps_vs_echo"] = round(row["qps"] / echo_row["qps"], 3)
    row["ratio_p99_vs_echo"] = round(row["p99_ms"] / echo_row["p99_ms"], 3)
    row["echo_qps_paired"] = echo_row["qps"]
    # Counted over whole slices, the clients' warm-up seconds included.
    row["layers"] = shares(after.minus(before), merged["completed"],
                           recsvc=bool(target.metrics_urls))
    if not target.ready:
        row["warning"] = "start-up data (popular lists, catalogue) not loaded"
    print(f"  {name}: {row['qps']:.0f} calls/s, echo alongside {echo_row['qps']:.0f}",
          flush=True)
    return row, paired
