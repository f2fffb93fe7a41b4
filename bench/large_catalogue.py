"""Benchmark: the whole job on large catalogues, within a fixed memory per worker.

For each catalogue size (default 10,000 and 100,000 products) it generates a synthetic shop
of about ``--events`` events and runs `profile-engine run` twice on a LocalCluster of
``--workers`` processes with ``--worker-memory`` each, publishing to moto: as configured
(tuning on: the model the job chooses; the synthetic shop's customers keep to their
categories, so it may well serve category popular), and with the sparse ranker forced
(tuning off, ``ranker_family=knn``: the model fitted on every user and scored for all).
It prints per run the model served, how many of the products with interactions the ranker
models, the peak RSS of the worker processes (sampled, and the workers' own high-water marks
per stage), worker restarts (a worker killed for memory would show here) and stage times.

    .venv/bin/python bench/large_catalogue.py [--events 1000000] [--products 10000,100000]
        [--workers 2] [--worker-memory 2GiB] [--runs "tuned,knn forced"] [--json PATH]
        [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from engines.dask_job import run_dask  # noqa: E402
from engines.published import table_definition  # noqa: E402
from engines.shop import generate  # noqa: E402

from loopback.aws import moto_server  # noqa: E402

RUNS: dict[str, dict[str, Any]] = {
    "tuned": {},
    "knn forced": {"tuning": False, "ranker_family": "knn"},
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--products", default="10000,100000", help="catalogue sizes, a,b,...")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-memory", default="2GiB")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", default=",".join(RUNS), help=f"some of {list(RUNS)}")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep", type=Path, help="work here and keep the files")
    return parser.parse_args()




def one_size(args: argparse.Namespace, base: Path, endpoint: str, products: int) -> list[
    dict[str, Any]
]:
    root = base / f"p{products}"
    gen = generate(root, args.events, args.seed, products=products)
    print(
        f"shop     {gen['events']:,} events, {gen['users']:,} customers, {products:,} products "
        f"({gen['seconds']:.0f} s to generate)",
        flush=True,
    )
    chosen = [r.strip() for r in args.runs.split(",")]
    return [one_run(args, root, endpoint, gen, name, RUNS[name]) for name in chosen]


def one_run(
    args: argparse.Namespace,
    root: Path,
    endpoint: str,
    gen: dict[str, Any],
    name: str,
    settings: dict[str, Any],
) -> dict[str, Any]:
    from profile_engine.publish import dynamodb_client

    products = gen["products"]
    table = f"large{products}{name.replace(' ', '')}"
    dynamodb_client("us-east-1", endpoint).create_table(**table_definition(table))
    run = run_dask(root, endpoint, table, args.workers, args.worker_memory, **settings)
    report = run["report"]
    model = report.model
    coverage = report.model_coverage
    row = {
        "run": name,
        "products": products,
        "events": gen["events"],
        "users": gen["users"],
        "served": model.served if model else "?",
        "family": (model.settings.get("family", "-") if model else "-"),
        "modelled_products": coverage.get("modelled_products", 0),
        "products_with_interactions": coverage.get("products_with_interactions", 0),
        "peak_rss_mb_sampled": round(run["peak_rss_mb"]),
        "peak_rss_mb_job": round(run["job_peak_rss_mb"]),
        "peak_rss_mb_per_worker": run["peak_rss_mb_per_worker"],
        "stage_peak_rss_mb": run["stage_peak_rss_mb"],
        "worker_restarts": run["worker_restarts"],
        "job_seconds": round(run["job_seconds"], 1),
        "timings": run["timings"],
        "ndcg@10": report.metrics.get("ndcg@10"),
        "published": bool(report.generation),
    }
    print(
        f"{name:<11} {row['served']} ({row['family']}), modelled {row['modelled_products']:,} of "
        f"{row['products_with_interactions']:,} products with interactions; peak RSS per "
        f"worker {row['peak_rss_mb_per_worker']} MB (high-water {row['peak_rss_mb_job']} MB, "
        f"limit {args.worker_memory}); restarts {row['worker_restarts']}; "
        f"{row['job_seconds']} s without publish",
        flush=True,
    )
    print("stages   " + ", ".join(f"{k} {v:.1f}" for k, v in run["timings"].items()), flush=True)
    return row


def main() -> None:
    args = parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("distributed").setLevel(logging.ERROR)
    base = args.keep or Path(tempfile.mkdtemp(prefix="bench-large-"))
    base.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        with moto_server() as endpoint:
            for products in (int(p) for p in args.products.split(",")):
                rows += one_size(args, base, endpoint, products)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    print()
    print(f"{'run':<11} {'products':>9} {'events':>10} {'served':>20} {'modelled':>9} "
          f"{'with int.':>9} {'peak RSS MB/worker':>20} {'restarts':>8} {'job s':>7}")
    for r in rows:
        print(f"{r['run']:<11} {r['products']:>9,} {r['events']:>10,} "
              f"{r['served'] + '/' + r['family']:>20} "
              f"{r['modelled_products']:>9,} {r['products_with_interactions']:>9,} "
              f"{str(r['peak_rss_mb_per_worker']):>20} {r['worker_restarts']:>8} "
              f"{r['job_seconds']:>7}")
    if args.json:
        args.json.write_text(json.dumps({"worker_memory": args.worker_memory, "rows": rows},
                                        indent=2, default=str))


if __name__ == "__main__":
    main()
