"""What the real-time benchmarks share: moto, the shared Redis under a per-run key prefix,
and recsvc started against both (bench/realtime.py, bench/session_replay.py)."""

from __future__ import annotations

import os
import secrets
import sys
from contextlib import ExitStack
from pathlib import Path

from loopback import ROOT
from loopback.ports import free_port
from loopback.processes import Proc
from serving.processes import recsvc_server, started

AWS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
       "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
REDIS_URL = "redis://127.0.0.1:6379/0"


def use_this_checkout() -> None:
    """AWS test credentials, and subprocesses (recsvc, profile-engine, Dask workers)
    import the tree this bench runs from, not whatever the virtualenv points at."""
    os.environ.update(AWS)
    path = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), path) if p)


def start_moto(stack: ExitStack) -> str:
    """moto in server mode (its own process, not pinned); its endpoint URL."""
    port = free_port()
    moto = stack.enter_context(started(Proc(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        {}, "moto")))
    moto.wait_for(r"Running on")
    return f"http://127.0.0.1:{port}"


def run_prefix(name: str) -> str:
    """A cache prefix no other run uses (the shared Redis keeps sessions for days)."""
    return f"bench-{name}-{os.getpid()}-{secrets.token_hex(3)}"


def recsvc_env(endpoint: str, table: str, prefix: str, **extra: str) -> dict[str, str]:
    """recsvc on a free port, Redis as the cache and session memory, quiet logs."""
    return {
        "RECSVC_HOST": "127.0.0.1", "RECSVC_PORT": "0", "RECSVC_TABLE": table,
        "RECSVC_DYNAMODB_ENDPOINT_URL": endpoint, "RECSVC_CACHE": "redis",
        "RECSVC_REDIS_URL": REDIS_URL, "RECSVC_CACHE_PREFIX": prefix,
        "RECSVC_EVENT_LOOP": "uvloop", "RECSVC_LOG_LEVEL": "WARNING",
        "RECSVC_ACCESS_LOG": "false", "RECSVC_GRACE_S": "2", "RECSVC_DRAIN_DELAY_S": "0",
        **extra,
    }


def start_recsvc(stack: ExitStack, name: str, env: dict[str, str],
                 cpus: set[int] | None = None) -> tuple[Proc, str]:
    """`python -m recsvc serve` (stopped with the stack); the process and its address."""
    proc = stack.enter_context(started(recsvc_server(name, env, cpus)))
    return proc, proc.wait_for(r"recsvc listening on (\S+)").group(1)


def drop_prefix(prefix: str) -> int:
    """Delete every key under ``prefix`` in the shared Redis; how many there were."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    dropped = 0
    try:
        batch: list[bytes] = []
        for key in client.scan_iter(match=f"{prefix}:*", count=2000):
            batch.append(key)
            if len(batch) >= 2000:
                dropped += int(client.unlink(*batch))
                batch = []
        if batch:
            dropped += int(client.unlink(*batch))
    finally:
        client.close()
    return dropped


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
