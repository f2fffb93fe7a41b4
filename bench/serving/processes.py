"""The bench's subprocesses: started in their own session, pinned to cores, output to a file."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from loopback.processes import Proc


def cpu_split(pin: bool) -> tuple[set[int] | None, set[int] | None]:
    """(server cores, client cores), or (None, None) when not pinning."""
    cores = sorted(os.sched_getaffinity(0))
    if not pin or len(cores) < 2:
        return None, None
    half = len(cores) // 2
    return set(cores[half:]), set(cores[:half])


@contextmanager
def started(proc: Proc) -> Iterator[Proc]:
    """``proc``, stopped on the way out (a server draining on SIGTERM gets 30 s)."""
    try:
        yield proc
    finally:
        proc.stop(timeout=30)


def recsvc_server(name: str, env: dict[str, str], cpus: set[int] | None) -> Proc:
    """`python -m recsvc serve` configured by ``env``."""
    return Proc([sys.executable, "-m", "recsvc", "serve"], env, name, cpus)


def ports_outside_ephemeral(count: int = 1) -> int:
    """The first of ``count`` consecutive free ports below the ephemeral range: ports a
    server binds a while later (recsvc's metrics port, after it connects to moto and
    Redis), which no outgoing connection can take in the meantime (free_port()'s can)."""
    import random
    import socket

    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    rng = random.Random()
    for _ in range(200):
        first = rng.randrange(10_000, max(10_001, low - count))
        try:
            for port in range(first, first + count):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return first
    raise RuntimeError("no free ports below the ephemeral range")
