"""Proc: a subprocess we own, started in its own session with its output kept in a file."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

from loopback import ROOT
from loopback.waiting import poll_for

__all__ = ["Proc"]


class Proc:
    """A subprocess we own: output goes to a file printed when it misbehaves. ``cpus``
    pins it (and every thread it starts) to those cores, as the benchmarks do."""

    def __init__(
        self,
        args: list[str],
        env: dict[str, str] | None = None,
        name: str = "",
        cpus: set[int] | None = None,
    ) -> None:
        self.name = name or Path(args[0]).name
        self.log = (
            Path(os.environ.get("TMPDIR", "/tmp"))
            / f"{self.name}-{os.getpid()}-{time.monotonic_ns()}.log"
        )
        self._log_file = self.log.open("wb")
        self.popen = subprocess.Popen(
            args,
            env={**os.environ, **(env or {})},
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        )

    def output(self) -> str:
        if not self._log_file.closed:
            self._log_file.flush()
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 60.0) -> re.Match[str]:
        """The first match of ``pattern`` in the output (a "listening on" line, say);
        RuntimeError with the output's tail if the process exits or the deadline passes."""
        found = poll_for(
            lambda: re.search(pattern, self.output()) or not self.alive(), timeout,
            f"{self.name} to print {pattern!r}",
        )
        if not isinstance(found, re.Match):
            raise RuntimeError(f"{self.name} exited:\n{self.output()[-3000:]}")
        return found

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            self.popen.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL the whole process group (a nanny and its worker die together)."""
        if self.alive():
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(10)

    def stop(self, timeout: float = 10.0) -> int | None:
        """terminate, then kill; returns the exit code."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)
        self._log_file.close()
        return self.popen.returncode
