"""Real servers on loopback for tests and the demo: moto, dynalite, Dask, any subprocess."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def poll_for(
    predicate: Callable[[], object], timeout: float = 30.0, what: str = "condition"
) -> object:
    """Wait until predicate() is truthy; raise with ``what`` on the deadline (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


class Proc:
    """A subprocess we own: output goes to a file printed when it misbehaves."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None, name: str = "") -> None:
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
        )

    def output(self) -> str:
        if not self._log_file.closed:
            self._log_file.flush()
        return self.log.read_text(errors="replace")

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


@contextmanager
def moto_server() -> Iterator[str]:
    """moto in server mode on a free loopback port; yields its endpoint URL."""
    import logging

    from moto.server import ThreadedMotoServer

    # moto's werkzeug logs one line per request; keep test and demo output readable.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def dynalite_bin() -> str | None:
    candidates = [
        os.environ.get("DYNALITE_BIN"),
        str(ROOT / ".cache/node/node_modules/.bin/dynalite"),
    ]
    for c in candidates:
        if c and Path(c).exists():
            return c
    return shutil.which("dynalite")


@contextmanager
def dynalite_server() -> Iterator[str]:
    """dynalite (npm) on a free loopback port: rejects requests real DynamoDB rejects."""
    binary = dynalite_bin()
    if binary is None:
        raise RuntimeError("dynalite is not installed: run `make test` (it installs it with npm)")
    port = free_port()
    proc = Proc(
        [
            binary,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--createTableMs",
            "0",
            "--deleteTableMs",
            "0",
            "--updateTableMs",
            "0",
        ],
        name="dynalite",
    )
    try:
        poll_for(lambda: port_open(port) or not proc.alive(), 20, "dynalite to listen")
        if not proc.alive():
            raise RuntimeError(f"dynalite exited:\n{proc.output()}")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.stop()


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
