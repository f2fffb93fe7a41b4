"""Give the job a Dask client: a LocalCluster of worker processes, or an existing scheduler."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.util import find_spec

from distributed import Client, LocalCluster

from profile_engine.settings import EngineSettings

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
            yield client
        return
    # One thread per worker process: the per-partition work is pandas/numpy that holds the
    # GIL often enough that threads would mostly wait for each other.
    with (
        LocalCluster(
            n_workers=settings.workers,
            threads_per_worker=1,
            processes=True,
            memory_limit=settings.worker_memory,
            host="127.0.0.1",
            # The scheduler's HTTP server (health, metrics) always starts; on a free port it
            # cannot collide with another run. The dashboard pages are added on request.
            dashboard_address=":0",
            scheduler_kwargs={"dashboard": settings.dashboard},
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client
