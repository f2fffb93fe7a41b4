"""The bench's subprocesses: started in their own session, pinned to cores, output to a file."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def cpu_split(pin: bool) -> tuple[set[int] | None, set[int] | None]:
    """(server cores, client cores), or (None, None) when not pinning."""
    cores = sorted(os.sched_getaffinity(0))
    if not pin or len(cores) < 2:
        return None, None
    half = len(cores) // 2
    return set(cores[half:]), set(cores[:half])


class Process:
    """A subprocess in its own session, on ``cpus`` if given, its output in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], name: str,
                 cpus: set[int] | None = None) -> None:
        self.name = name
        self.log = Path(tempfile.gettempdir()) / f"bench-{name}-{os.getpid()}.log"
        self._out = self.log.open("wb")

        def pin() -> None:  # before exec: every thread of the child inherits it
            if cpus:
                os.sched_setaffinity(0, cpus)

        self.popen = subprocess.Popen(
            args, env={**os.environ, **env}, stdout=self._out, stderr=subprocess.STDOUT,
            cwd=ROOT, start_new_session=True, preexec_fn=pin,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.output())
            if found:
                return found
            if self.popen.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not start:\n{self.output()[-3000:]}")

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)
        self._out.close()


@contextmanager
def started(proc: Process) -> Iterator[Process]:
    """``proc``, stopped on the way out."""
    try:
        yield proc
    finally:
        proc.stop()


def recsvc_server(name: str, env: dict[str, str], cpus: set[int] | None) -> Process:
    """`python -m recsvc serve` configured by ``env``."""
    return Process([sys.executable, "-m", "recsvc", "serve"], env, name, cpus)
