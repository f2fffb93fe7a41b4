"""RedisCache in cluster mode (ElastiCache cluster mode) against a real 3-shard Redis
Cluster of redis-server processes on loopback."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from loopback.ports import port_open
from loopback.processes import Proc
from loopback.waiting import poll_for
from recsvc.cache import open_cache
from recsvc.cache.redis import RedisCache
from recsvc.settings import Settings

pytestmark = pytest.mark.timeout(60)


def _cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port + 10000 < 65536 and not port_open(port + 10000):
            return port
    raise RuntimeError("no free port pair for a Redis Cluster node")


@pytest.fixture(scope="module")
def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    ports = [_cluster_port() for _ in range(3)]
    procs: list[Proc] = []
    try:
        for port in ports:
            d = tmp_path_factory.mktemp(f"redis-{port}")
            procs.append(Proc(
                ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                 "--cluster-enabled", "yes", "--cluster-config-file", str(d / "nodes.conf"),
                 "--save", "", "--appendonly", "no", "--dir", str(d)],
                name=f"redis-cluster-{port}",
            ))
        for port in ports:
            poll_for(lambda p=port: port_open(p), 10, f"redis node {port}")  # type: ignore[misc]
        subprocess.run(
            ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports),
             "--cluster-replicas", "0", "--cluster-yes"],
            check=True, capture_output=True, timeout=30,
        )

        def ok() -> bool:
            out = subprocess.run(["redis-cli", "-p", str(ports[0]), "cluster", "info"],
                                 capture_output=True, text=True, timeout=5).stdout
            return "cluster_state:ok" in out

        poll_for(ok, 20, "the cluster to be ok")
        yield f"redis://127.0.0.1:{ports[0]}/0"
    finally:
        for p in procs:
            p.stop()


async def test_cluster_mode_get_set_delete_across_slots(cluster_url: str) -> None:
    cache = await open_cache(Settings(cache="redis", redis_cluster=True, redis_url=cluster_url))
    assert isinstance(cache, RedisCache)
    try:
        await cache.ping()
        # Keys of one request (profile, facts of many products) hash to many slots.
        entries = {f"t:gen:facts:P{n:04d}": (f"v{n}".encode(), 30.0) for n in range(300)}
        entries["t:gen:profile:u1"] = (b"", 30.0)  # a negative entry
        await cache.set_many(entries)
        got = await cache.get_many([*entries, "t:gen:facts:absent"])
        assert got == {k: v for k, (v, _) in entries.items()}
        await cache.delete(list(entries)[:100])
        assert len(await cache.get_many(list(entries))) == len(entries) - 100
        short = "t:gen:profile:short"
        await cache.set_many({short: (b"x", 0.1)})
        deadline = time.monotonic() + 5
        while await cache.get_many([short]):
            assert time.monotonic() < deadline
    finally:
        await cache.aclose()
