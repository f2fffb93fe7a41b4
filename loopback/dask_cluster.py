"""A real Dask cluster on loopback: `dask scheduler` and `dask worker` processes."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from loopback.ports import free_port, port_open
from loopback.processes import Proc
from loopback.waiting import poll_for

__all__ = ["dask_cluster"]


@contextmanager
def dask_cluster(
    n_workers: int = 2, memory_limit: str = "2GiB", workers_out: list[Proc] | None = None
) -> Iterator[str]:
    """A real `dask scheduler` and `dask worker` processes on loopback; yields tcp://...
    The worker processes are appended to ``workers_out`` (to kill one in a test)."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = str(Path(sys.executable).parent / "dask")
    env = {"DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    procs = [
        Proc(
            [
                dask,
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--dashboard-address",
                ":0",
                "--no-show",
            ],
            env=env,
            name="dask-scheduler",
        )
    ]
    try:
        poll_for(lambda: port_open(port), 30, "the dask scheduler")
        for i in range(n_workers):
            procs.append(
                Proc(
                    [
                        dask,
                        "worker",
                        address,
                        "--nthreads",
                        "1",
                        "--host",
                        "127.0.0.1",
                        "--memory-limit",
                        memory_limit,
                        "--name",
                        f"w{i}",
                        "--dashboard-address",
                        ":0",
                        "--no-dashboard",
                    ],
                    env=env,
                    name=f"dask-worker-{i}",
                )
            )
        from distributed import Client

        with Client(address, timeout=30) as client:
            client.wait_for_workers(n_workers, timeout=60)
        if workers_out is not None:
            workers_out.extend(procs[1:])
        yield address
    except BaseException:
        for p in procs:
            print(f"--- {p.name} ---\n{p.output()[-3000:]}", file=sys.stderr)
        raise
    finally:
        for p in reversed(procs):
            p.stop()
