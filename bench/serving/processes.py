"""The bench's subprocesses: started in their own session, pinned to cores, output to a file."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

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

