"""Memory runs: the whole job on a fresh shop with the fixed worker memory limit."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

from engines.dask_job import run_dask
from engines.published import table_definition
from engines.shop import generate, shop_size


def memory_run(
    root: Path, events: int, args: argparse.Namespace, endpoint: str, ddb: Any, table: str
) -> dict[str, Any]:
    """The whole job on a fresh shop of ``events`` events with the fixed worker memory; the
    catalogue stays that of the 1x shop unless --scale-catalog."""
    products = None if args.scale_catalog else shop_size(args.memory_events or args.events)[1]
    gen = generate(root, events, args.seed, products)
    print(
        f"shop     {gen['events']:,} events, {gen['users']:,} customers, {gen['products']:,}"
        f" products (memory run) in {gen['seconds']:.0f} s",
        flush=True,
    )
    ddb.create_table(**table_definition(table))
    try:
        out = run_dask(root, endpoint, table, args.workers, args.worker_memory)
    except Exception as exc:  # the criterion is "completes": report, don't hide, a failure
        print(f"memory run on {gen['events']:,} events FAILED: {exc!r}", flush=True)
        out = {
            "failed": repr(exc),
            "peak_rss_mb": float("nan"),
            "peak_rss_mb_per_worker": [],
            "worker_restarts": None,
            "timings": {},
            "job_seconds": float("nan"),
        }
    else:
        print(
            f"dask     {gen['events']:,} events: "
            + ", ".join(f"{k} {v:.1f}" for k, v in out["timings"].items()),
            flush=True,
        )
    shutil.rmtree(root, ignore_errors=True)
    out["events"] = gen["events"]
    return out
