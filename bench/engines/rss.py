"""Peak RSS of the Dask worker processes, sampled while the job runs."""

from __future__ import annotations

import threading

import psutil


class RssSampler(threading.Thread):
    """Peak RSS of every Dask worker process (children of this process started by spawn)."""

    def __init__(self, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.peak: dict[int, int] = {}
        self._halt = threading.Event()
        self._kind: dict[int, bool] = {}

    def _is_worker(self, p: psutil.Process) -> bool:
        if p.pid not in self._kind:
            try:
                cmd = " ".join(p.cmdline())
            except psutil.Error:
                return False
            self._kind[p.pid] = "spawn_main" in cmd
        return self._kind[p.pid]

    def run(self) -> None:
        me = psutil.Process()
        while not self._halt.is_set():
            for child in me.children(recursive=True):
                try:
                    if self._is_worker(child):
                        rss = child.memory_info().rss
                        self.peak[child.pid] = max(self.peak.get(child.pid, 0), rss)
                except psutil.Error:
                    pass
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()
