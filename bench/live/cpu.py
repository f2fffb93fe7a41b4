"""How busy the server process was in the measured windows: its CPU seconds (Linux /proc)
sampled every 50 ms by a thread, interpolated at the windows' edges."""

from __future__ import annotations

import bisect
import threading
import time

from serving.stack import cpu_seconds

PERIOD_S = 0.05


class CpuSampler:
    """Samples process ``pid`` until stopped; ``busy`` reads the samples."""

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self._times: list[float] = []
        self._cpu: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                cpu = cpu_seconds(self._pid)
            except OSError:
                return
            self._times.append(time.time())
            self._cpu.append(cpu)
            self._stop.wait(PERIOD_S)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _at(self, t: float) -> float:
        times, cpu = self._times, self._cpu
        i = bisect.bisect_left(times, t)
        if i <= 0:
            return cpu[0]
        if i >= len(times):
            return cpu[-1]
        span = times[i] - times[i - 1]
        share = (t - times[i - 1]) / span if span > 0 else 0.0
        return cpu[i - 1] + share * (cpu[i] - cpu[i - 1])

    def busy(self, windows: list[tuple[float, float]]) -> float:
        """CPU seconds over wall seconds across ``windows`` (wall-clock start, end): 1.0 is
        one core fully used."""
        if not windows or len(self._times) < 2:
            return float("nan")
        used = sum(self._at(b) - self._at(a) for a, b in windows)
        return used / sum(b - a for a, b in windows)
