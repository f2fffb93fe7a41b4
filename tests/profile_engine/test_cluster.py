"""cluster.open_client: a LocalCluster from settings, or an existing scheduler."""

from __future__ import annotations

from profile_engine.cluster import open_client
from profile_engine.settings import EngineSettings


def _square(x: int) -> int:
    return x * x


def test_local_cluster_from_settings() -> None:
    settings = EngineSettings(workers=1, worker_memory="1GiB", dashboard=True)
    with open_client(settings) as client:
        info = client.scheduler_info()
        [worker] = info["workers"].values()
        assert worker["nthreads"] == 1 and worker["memory_limit"] == 2**30
        assert client.dashboard_link and ":8787" not in client.dashboard_link  # a free port
        assert client.submit(_square, 7).result() == 49
        cluster = client.cluster
    assert cluster.status.name == "closed"


def test_local_cluster_http_server_never_on_the_default_port() -> None:
    # Two runs on one machine must not fight over 8787, dashboard or not.
    with open_client(EngineSettings(workers=1, worker_memory="1GiB")) as client:
        assert client.scheduler_info()["services"]["dashboard"] != 8787


def test_existing_scheduler(scheduler_address: str) -> None:
    with open_client(EngineSettings(scheduler=scheduler_address)) as client:
        assert client.scheduler.address == scheduler_address
        assert len(client.scheduler_info()["workers"]) == 2
        assert client.submit(_square, 3).result() == 9
