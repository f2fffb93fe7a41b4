"""worker_memory.py: workers keep freed memory for the next task, on any cluster."""

from __future__ import annotations

import ctypes

import pyarrow as pa
import pytest
from distributed import Client, LocalCluster

from profile_engine import cluster as job_cluster
from profile_engine import heap, worker_memory
from profile_engine.settings import EngineSettings


def test_keep_is_a_bounded_share_of_the_limit() -> None:
    assert worker_memory.keep_bytes(3 * 2**30 // 2) == 256 * 2**20
    assert worker_memory.keep_bytes(64 * 2**30) == worker_memory.KEEP_MOST
    assert worker_memory.keep_bytes(None) == worker_memory.keep_bytes(0) == 256 * 2**20


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _state() -> tuple[str, int]:
    """This process's Arrow pool, and the free memory glibc's heap holds after 40 blocks of
    1 MB are freed (kept for reuse, or handed back to the system)."""
    libc = heap.libc()
    assert libc is not None
    libc.malloc.restype, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_void_p]
    libc.mallinfo2.restype = _MallInfo2
    for block in [libc.malloc(2**20) for _ in range(40)]:
        libc.free(block)
    return pa.default_memory_pool().backend_name, int(libc.mallinfo2().fordblks)


@pytest.mark.skipif(
    not hasattr(heap.libc(), "mallinfo2"), reason="needs glibc 2.33+ (mallinfo2) to look"
)
def test_workers_keep_freed_memory_and_arrow_uses_the_heap() -> None:
    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            memory_limit="1.5GiB",
            host="127.0.0.1",
            dashboard_address=":0",
        ) as cluster,
        Client(cluster) as client,
    ):
        before = next(iter(client.run(_state).values()))
        client.register_plugin(worker_memory.KeepFreedMemory())
        after = next(iter(client.run(_state).values()))
        with worker_memory.returned_during(client, keeping=True):  # the trials' stage
            during = next(iter(client.run(_state).values()))
        again = next(iter(client.run(_state).values()))
        # a worker that joins later gets it too
        cluster.scale(2)
        client.wait_for_workers(2)
        states = list(client.run(_state).values())
    assert before[0] != "system" and before[1] < 8 * 2**20  # Dask's default: handed back
    assert after[0] == "system" and after[1] >= 32 * 2**20  # kept for the next task
    assert during[0] == before[0] and during[1] < 8 * 2**20  # as Dask has it
    assert again[0] == "system" and again[1] >= 32 * 2**20
    assert all(s[0] == "system" and s[1] >= 32 * 2**20 for s in states)


@pytest.mark.skipif(
    not hasattr(heap.libc(), "mallinfo2"), reason="needs glibc 2.33+ (mallinfo2) to look"
)
@pytest.mark.parametrize("keep", [True, False])
def test_the_job_client_sets_it_as_the_setting_says(keep: bool) -> None:
    settings = EngineSettings(workers=1, worker_memory="1.5GiB", keep_freed_memory=keep)
    with job_cluster.open_client(settings) as client:
        pool, free = next(iter(client.run(_state).values()))
    assert (pool == "system" and free >= 32 * 2**20) is keep
