"""Give the job a Dask client: a LocalCluster of worker processes, or an existing scheduler."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.util import find_spec
from pathlib import Path

import dask
from distributed import Client, LocalCluster

from profile_engine.settings import EngineSettings
from profile_engine.worker_memory import KeepFreedMemory

log = logging.getLogger(__name__)


# The P2P shuffle logs every shuffle it starts and stops at WARNING; that is routine here.
logging.getLogger("distributed.shuffle._scheduler_plugin").setLevel(logging.ERROR)


def dashboard_missing() -> bool:
    """The Dask dashboard needs bokeh, which is not a dependency of the job."""
    return find_spec("bokeh") is None


@contextmanager
def open_client(settings: EngineSettings) -> Iterator[Client]:
    """A Client for ``settings.scheduler`` (tcp://host:port) or for a LocalCluster of
    ``settings.workers`` processes; the LocalCluster is shut down on exit."""
    if settings.scheduler:
        with Client(settings.scheduler, timeout="30s") as client:
            _prepare(client, settings)
            yield client
        return
    with (
        local_cluster(
            settings.workers,
            settings.worker_memory,
            settings.dashboard,
            spill=(settings.spill_target, settings.spill_process),
        ) as cluster,
        Client(cluster) as client,
    ):
        _prepare(client, settings)
        yield client


def _prepare(client: Client, settings: EngineSettings) -> None:
    if settings.keep_freed_memory:
        client.register_plugin(KeepFreedMemory())


def local_cluster(
    workers: int,
    memory: str,
    dashboard: bool = False,
    spill: tuple[float, float] = (0.25, 0.33),
) -> LocalCluster:
    """The job's LocalCluster: ``workers`` processes of one thread, ``memory`` each;
    ``spill``: (stored results, whole process) shares of the limit past which stored
    results go to disk (settings spill_target, spill_process)."""
    # One thread per worker process: the per-partition work is pandas/numpy that holds the
    # GIL often enough that threads would mostly wait for each other.
    # Out of core: past these shares of the limit a worker writes the results it holds to
    # disk rather than keep them in memory (Dask's 0.6/0.7 let them grow with the input up
    # to 1 GB of a 1.5 GB worker before spilling anything). The nannies pass it on.
    config = {
        "distributed.worker.memory.target": spill[0],
        "distributed.worker.memory.spill": spill[1],
    }
    with dask.config.set(config):
        return LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            memory_limit=memory,
            host="127.0.0.1",
            # The scheduler's HTTP server (health, metrics) always starts; on a free port it
            # cannot collide with another run. The dashboard pages are added on request.
            dashboard_address=":0",
            scheduler_kwargs={"dashboard": dashboard},
        )


def _peak_rss() -> int:
    """This process's peak RSS (bytes) since the last call, then reset the peak.

    Linux keeps the exact high-water mark (VmHWM) and resets it on request (clear_refs),
    so a short spike is never missed; elsewhere: the process's lifetime peak."""
    try:
        status = Path("/proc/self/status").read_text()
        kb = next(int(ln.split()[1]) for ln in status.splitlines() if ln.startswith("VmHWM:"))
        Path("/proc/self/clear_refs").write_text("5")
        return kb * 1024
    except (OSError, StopIteration, ValueError):
        import resource  # not on Windows: the caller reports 0 then

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def worker_peaks(client: Client) -> dict[str, int]:
    """Peak RSS (bytes) of every worker since the previous call (0 for one that cannot
    answer, e.g. lost mid-run): per-stage peaks when called at each stage's end."""
    try:
        peaks = client.run(_peak_rss, on_error="return")
    except Exception:  # measuring must never fail the run
        log.debug("could not read the workers' peak memory", exc_info=True)
        return {}
    return {addr: v if isinstance(v, int) else 0 for addr, v in peaks.items()}
