"""Loopback ports: a free one to bind, and whether something listens on one."""

from __future__ import annotations

import random
import socket
from pathlib import Path

__all__ = ["free_port", "port_open", "ports_outside_ephemeral"]


def free_port() -> int:
    """A port nothing listens on right now (another process may still take it: servers
    that can bind port 0 themselves should)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def ports_outside_ephemeral(count: int = 1) -> int:
    """The first of ``count`` consecutive free ports below the ephemeral range: ports a
    server binds a while later (recsvc's metrics ports, after it connects to DynamoDB and
    Redis), which no outgoing connection can take in the meantime (free_port()'s can)."""
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
