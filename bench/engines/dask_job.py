"""The profile job itself (Dask, LocalCluster) on the shop, timed per stage, RSS sampled."""

from __future__ import annotations

import importlib
import os
import time
from pathlib import Path
from typing import Any

from engines.params import HISTORY, NEIGHBOURS
from engines.rss import RssSampler

# The stages PySpark and DuckDB do too; evaluate, segments, ranker, recommend only the job does.
AGG_STAGES = (
    "catalog",
    "read events",
    "plan replica reads",
    "shuffle by user",
    "profiles",
    "neighbours",
    "popular",
)


def run_dask(
    root: Path, endpoint: str, table: str, workers: int, memory: str, **settings: Any
) -> dict[str, Any]:
    """One `profile-engine run` on ``workers`` local workers, publishing to ``table``
    (``settings``: EngineSettings fields on top of the benchmark's)."""
    from distributed import Client

    from profile_engine import cluster as job_cluster
    from profile_engine import pipeline
    from profile_engine.settings import EngineSettings

    # The job's own LocalCluster set-up (spill thresholds included), as `profile-engine run`
    # starts it; only the client is kept here, to see the worker processes.
    defaults = EngineSettings()  # the spill shares a run would get (env included)
    with (
        job_cluster.local_cluster(
            workers, memory, spill=(defaults.spill_target, defaults.spill_process)
        ) as cluster,
        Client(cluster) as client,
    ):
        start_pids = set(client.run(os.getpid).values())
        # Start-up is not timed (as for Spark's JVM): the workers import the job's code first.
        client.run(importlib.import_module, "profile_engine.pipeline")
        settings = EngineSettings(
            events=str(root / "events"),
            replica_url=f"sqlite:///{root / 'shop.db'}",
            scheduler=cluster.scheduler_address,
            table=table,
            dynamodb_endpoint_url=endpoint,
            history=HISTORY,
            neighbours=NEIGHBOURS,
            **settings,
        )
        sampler = RssSampler()
        sampler.start()
        started = time.perf_counter()
        try:
            report = pipeline.run(settings, force=True)
        finally:
            wall = time.perf_counter() - started
            sampler.stop()
        end_pids = set(client.run(os.getpid).values())
    peaks = {pid: rss for pid, rss in sampler.peak.items() if pid in start_pids | end_pids}
    t = report.timings
    return {
        "report": report,
        "wall": wall,
        "agg_seconds": sum(t.get(s, 0.0) for s in AGG_STAGES),
        "job_seconds": sum(v for k, v in t.items() if k != "publish"),
        "publish_seconds": t.get("publish", float("nan")),
        "timings": dict(t),
        "peak_rss_mb": max(peaks.values(), default=0) / 2**20,
        # The workers' own high-water marks (VmHWM), per stage: no sampling gaps.
        "job_peak_rss_mb": report.peak_rss_mb,
        "stage_peak_rss_mb": {k: round(v / 2**20) for k, v in report.stage_peak_rss.items()},
        "peak_rss_mb_per_worker": sorted(round(v / 2**20) for v in peaks.values()),
        "worker_restarts": len(end_pids - start_pids),
    }
