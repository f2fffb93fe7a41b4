"""Benchmark: the profile job (Dask, LocalCluster) against PySpark and DuckDB, same input.

Generates a synthetic shop (gzip JSON Lines events + a SQLite replica with customers and
products; the orders tables are left empty so every engine sees the same purchases: the
clickstream's), then in the same run times

- the profile job (``profile_engine.pipeline.run``) on a LocalCluster of ``--workers``
  processes with ``--worker-memory`` each, publishing to moto (DynamoDB on loopback);
  its aggregation stages (catalog, read events, shuffle, profiles, neighbours, popular)
  are the row compared with the others; the whole job and the publish are shown apart,
  for the tuning night and for the next night on the same table (the model choice carried,
  no trials: PROFILE_ENGINE_TUNING_EVERY_DAYS);
- the same aggregation stages written the obvious way in PySpark (local[N], DataFrame API)
  and in DuckDB (one process, SQL): per-user category affinity, popularity overall and per
  category, item-item cosine co-occurrence over each user's last ``history`` products,
  top-N per item. Both read the same .jsonl.gz files and write their outputs as Parquet;

checks their outputs against what the Dask job published (top-10 neighbours of 20 popular
items, affinities of 20 users, the overall popular list) and prints events/s and ratios
(``x dask`` = engine's events/s / Dask aggregation's events/s). Then (unless
``--skip-memory``) it runs the job again on 4x the events with the same worker memory limit
and compares the peak RSS per worker (sampled with psutil every 0.2 s; the job's own
report gives the exact high-water mark too). The 4x shop has 4x the customers and the same
catalogue as the 1x one: the question is growth with the events, and the ranker's model is
min(products, ranker_max_items)^2 by design (``--scale-catalog`` grows the catalogue too).

    .venv/bin/python bench/engine.py [--events 1000000] [--json PATH] [--skip-memory]
        [--skip-spark] [--skip-duckdb] [--workers 2] [--worker-memory 1.5GiB] [--keep DIR]

Every engine gets the whole machine in turn; other load on the machine moves all rows
alike, so read the ratios. Engine start-up (LocalCluster, Spark's JVM) is not timed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engines.checks import compare, dask_sample, read_outputs, sample_users  # noqa: E402
from engines.dask_job import run_dask  # noqa: E402
from engines.duckdb_job import run_duckdb  # noqa: E402
from engines.memory import memory_run  # noqa: E402
from engines.published import table_definition  # noqa: E402
from engines.shop import DAYS, generate, products_frame  # noqa: E402
from engines.spark_job import run_spark  # noqa: E402

from loopback.aws import moto_server  # noqa: E402


@dataclass(frozen=True)
class Measured:
    """Everything one run measured, before it is printed."""

    events: int
    dask: dict[str, Any]  # the timed 1x job (its model choice's trials run)
    carried: dict[str, Any]  # the next night's 1x job (the choice carried, no trials)
    engines: dict[str, dict[str, Any]]  # seconds and start-up per other engine
    checks: dict[str, Any]  # per other engine: its outputs against the job's
    mem1: dict[str, Any] | None
    mem4: dict[str, Any] | None


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=5_000_000, help="target events")
    parser.add_argument(
        "--memory-events",
        type=int,
        default=1_000_000,
        help="1x of the memory check (then 4x); 0: the same as --events",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-memory", default="1.5GiB")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--skip-memory", action="store_true", help="no 4x run")
    parser.add_argument(
        "--scale-catalog",
        action="store_true",
        help="memory runs: grow the catalogue with the events too (default: the 1x shop's "
        "catalogue, so only the events change)",
    )
    parser.add_argument("--skip-spark", action="store_true")
    parser.add_argument(
        "--spark-partitions", type=int, default=8, help="spark.sql.shuffle.partitions"
    )
    parser.add_argument("--skip-duckdb", action="store_true")
    parser.add_argument("--keep", type=Path, help="work here and keep the files")
    return parser.parse_args()


def measure(args: argparse.Namespace, base: Path, endpoint: str) -> Measured:
    """The 1x job, the other engines on the same shop, their checks, then the memory runs."""
    from profile_engine.publish import dynamodb_client

    ddb = dynamodb_client("us-east-1", endpoint)
    shop1 = base / "x1"
    gen = generate(shop1, args.events, args.seed)
    n = gen["events"]
    print(
        f"shop     {n:,} events ({gen['users']:,} customers, {gen['products']:,} products,"
        f" {DAYS} days, {gen['files']} .jsonl.gz files) in {gen['seconds']:.0f} s",
        flush=True,
    )
    ddb.create_table(**table_definition("bench1"))
    dask1 = run_dask(shop1, endpoint, "bench1", args.workers, args.worker_memory)
    print(
        "dask     " + ", ".join(f"{k} {v:.1f}" for k, v in dask1["timings"].items()),
        flush=True,
    )
    # The next night on the same table: the served generation's choice is recent, so the
    # trials do not run (PROFILE_ENGINE_TUNING_EVERY_DAYS); everything else does.
    carried = run_dask(shop1, endpoint, "bench1", args.workers, args.worker_memory)
    print(
        "dask, next night (choice carried)     "
        + ", ".join(f"{k} {v:.1f}" for k, v in carried["timings"].items()),
        flush=True,
    )
    prods = products_frame(shop1)
    engines: dict[str, dict[str, Any]] = {}
    outs: dict[str, Path] = {}
    if not args.skip_spark:
        outs["pyspark"] = base / "out-spark"
        shutil.rmtree(outs["pyspark"], ignore_errors=True)
        outs["pyspark"].mkdir()
        engines["pyspark"] = run_spark(
            shop1, outs["pyspark"], prods, psutil.cpu_count(), args.spark_partitions
        )
        print(f"pyspark  {engines['pyspark']['seconds']:.1f} s", flush=True)
    if not args.skip_duckdb:
        outs["duckdb"] = base / "out-duckdb"
        shutil.rmtree(outs["duckdb"], ignore_errors=True)
        outs["duckdb"].mkdir()
        engines["duckdb"] = run_duckdb(shop1, outs["duckdb"], prods)
        print(f"duckdb   {engines['duckdb']['seconds']:.1f} s", flush=True)

    checks: dict[str, Any] = {}
    if outs:
        loaded = {name: read_outputs(path) for name, path in outs.items()}
        users = sample_users(next(iter(loaded.values())))
        ref = dask_sample(endpoint, "bench1", dask1["report"].generation, users)
        checks = {name: compare(ref, o) for name, o in loaded.items()}

    mem1: dict[str, Any] | None = None
    mem4: dict[str, Any] | None = None
    if not args.skip_memory:
        shutil.rmtree(shop1 / "events", ignore_errors=True)  # disk: keep one shop at a time
        base_events = args.memory_events or args.events
        if base_events == args.events:
            mem1 = {**dask1, "events": n}
        else:
            mem1 = memory_run(base / "m1", base_events, args, endpoint, ddb, "bench-m1")
        mem4 = memory_run(base / "m4", 4 * base_events, args, endpoint, ddb, "bench-m4")
    return Measured(n, dask1, carried, engines, checks, mem1, mem4)


def _tuning(model: Any) -> dict[str, Any] | None:
    """The tuning night's search: trials run, seconds used of the budget."""
    if model is None:
        return None
    return {"trials": len(model.trials), "used_s": model.used_s, "budget_s": model.budget_s}


def engine_rows(m: Measured) -> list[dict[str, Any]]:
    """Seconds, events/s and ratio to the Dask aggregation stages, per engine row."""
    agg = m.dask["agg_seconds"]
    rows = [
        ("dask (aggregation stages)", agg),
        ("dask (whole job, tuning night)", m.dask["job_seconds"]),
        ("dask (whole job, choice carried)", m.carried["job_seconds"]),
        *((name, e["seconds"]) for name, e in m.engines.items()),
    ]
    table = []
    for name, secs in rows:
        table.append(
            {
                "engine": name,
                "seconds": round(secs, 2),
                "events_per_s": round(m.events / secs),
                "ratio_vs_dask": round(agg / secs, 2),
            }
        )
    return table


def print_engines(args: argparse.Namespace, m: Measured, table: list[dict[str, Any]]) -> None:
    """The engines' table, the publish line, start-ups, checks and the targets."""
    agg = m.dask["agg_seconds"]
    publish_s = m.dask["publish_seconds"]
    print()
    cores = psutil.cpu_count()
    print(f"{m.events:,} events, {args.workers} Dask workers x {args.worker_memory}, {cores} cores")
    print(f"{'engine':<34} {'seconds':>8} {'events/s':>10} {'x dask':>7}  check")
    for r in table:
        chk = m.checks.get(r["engine"])
        note = (
            "" if chk is None else ("ok" if chk["ok"] else "DIFFERS: " + "; ".join(chk["problems"]))
        )
        print(
            f"{r['engine']:<34} {r['seconds']:>8.1f} {r['events_per_s']:>10,} "
            f"{r['ratio_vs_dask']:>7.2f}  {note}"
        )
    published = sum(m.dask["report"].published.values())
    print(
        f"{'publish to DynamoDB (moto)':<34} {publish_s:>8.1f}  "
        f"({published:,} items, {published / publish_s:,.0f} items/s)"
    )
    per = m.dask["report"].publish.get("workers", {})
    if per:
        print("  written by the workers: " + ", ".join(
            f"{w} {r['items_per_s']:,.0f} items/s" for w, r in sorted(per.items())))
    for name, e in m.engines.items():
        if e["startup"]:
            print(f"({name} start-up, not timed above: {e['startup']:.1f} s)")
    if m.checks:
        print("checked: " + next(iter(m.checks.values()))["checked"])
    print("(whole job: every stage but the publish; tuning night: the model choice's trials "
          "run, as every PROFILE_ENGINE_TUNING_EVERY_DAYS; the nights between carry it)")
    model = m.dask["report"].model
    if model is not None:
        print(f"served model: {model.served} ({model.reason[:160]})")
        print(f"tuning night: {len(model.trials)} trials in {model.used_s:.1f} s of a "
              f"{model.budget_s:.0f} s budget"
              + (" (the search ran to the end)" if model.used_s < model.budget_s else
                 " (cut by the budget)"))
    for name, e in m.engines.items():
        if name == "pyspark":
            for night, run in (("tuning night", m.dask), ("choice carried", m.carried)):
                x = e["seconds"] / run["job_seconds"]
                print(
                    f"target: whole job ({night}) >= 2x pyspark's aggregation events/s; it is "
                    f"{x:.2f}x -> {'met' if x >= 2 else 'NOT met'}"
                )
        if name == "duckdb":
            x = agg / e["seconds"]
            print(
                f"target: aggregation stages within 1.3x of duckdb's time; they take "
                f"{x:.2f}x -> {'met' if x <= 1.3 else 'NOT met'}"
            )


def print_memory(args: argparse.Namespace, m: Measured) -> dict[str, Any]:
    """The peak RSS lines; returns their figures for the JSON."""
    mem1, mem4, dask1 = m.mem1, m.mem4, m.dask
    mem: dict[str, Any] = {"peak_rss_mb_1x": None, "peak_rss_mb_4x": None}
    if mem1 and mem4:
        mem = {
            "peak_rss_mb_1x": round(mem1["peak_rss_mb"]),
            "peak_rss_mb_4x": None if mem4.get("failed") else round(mem4["peak_rss_mb"]),
        }
        ratio = mem4["peak_rss_mb"] / mem1["peak_rss_mb"]
        verdict = "within" if ratio <= 1.2 else "NOT within"
        print(
            f"peak RSS per worker ({args.worker_memory} limit): "
            f"{mem1['events']:,} events {mem['peak_rss_mb_1x']} MB "
            f"{mem1['peak_rss_mb_per_worker']} (restarts {mem1['worker_restarts']}); "
            f"{mem4['events']:,} events {mem['peak_rss_mb_4x']} MB "
            f"{mem4['peak_rss_mb_per_worker']} (restarts {mem4['worker_restarts']}); "
            f"4x/1x {ratio:.2f}, {verdict} 1.2x"
            + (f"; 4x run FAILED {mem4['failed']}" if mem4.get("failed") else "")
        )
        catalog = "grows with the events" if args.scale_catalog else "the 1x shop's"
        print(
            f"  catalogue {catalog}; workers' own high-water marks: "
            f"{mem1.get('job_peak_rss_mb', float('nan')):.0f} MB and "
            f"{mem4.get('job_peak_rss_mb', float('nan')):.0f} MB; by stage at 4x: "
            + ", ".join(f"{k} {v}" for k, v in mem4.get("stage_peak_rss_mb", {}).items())
        )
        mem.update(
            events_1x=mem1["events"],
            events_4x=mem4["events"],
            peak_rss_mb_per_worker_1x=mem1["peak_rss_mb_per_worker"],
            peak_rss_mb_per_worker_4x=mem4["peak_rss_mb_per_worker"],
            worker_restarts_1x=mem1["worker_restarts"],
            worker_restarts_4x=mem4["worker_restarts"],
            dask_stage_seconds_1x=mem1["timings"],
            dask_stage_seconds_4x=mem4["timings"],
            peak_rss_ratio_4x_1x=round(ratio, 3),
            memory_catalog="scaled" if args.scale_catalog else "fixed",
            job_peak_rss_mb_1x=round(mem1.get("job_peak_rss_mb", 0)),
            job_peak_rss_mb_4x=round(mem4.get("job_peak_rss_mb", 0)),
            stage_peak_rss_mb_1x=mem1.get("stage_peak_rss_mb", {}),
            stage_peak_rss_mb_4x=mem4.get("stage_peak_rss_mb", {}),
        )
    else:
        print(
            f"peak RSS per worker in the timed run: {round(dask1['peak_rss_mb'])} MB "
            f"{dask1['peak_rss_mb_per_worker']} (no 4x run)"
        )
    return mem


def _whole_job(m: Measured, run: dict[str, Any]) -> dict[str, Any]:
    secs = run["job_seconds"]
    out: dict[str, Any] = {"seconds": round(secs, 2), "events_per_s": round(m.events / secs),
                           "stage_seconds": run["timings"]}
    if "pyspark" in m.engines:
        out["x_pyspark_aggregation_events_per_s"] = round(m.engines["pyspark"]["seconds"] / secs, 2)
    return out


def write_json(
    path: Path,
    args: argparse.Namespace,
    m: Measured,
    table: list[dict[str, Any]],
    mem: dict[str, Any],
) -> None:
    doc = {
        "events": m.events,
        "workers": args.workers,
        "worker_memory": args.worker_memory,
        "engines": {
            r["engine"]: {k: r[k] for k in ("seconds", "events_per_s", "ratio_vs_dask")}
            for r in table
        },
        "publish_seconds": round(m.dask["publish_seconds"], 2),
        "published_items": sum(m.dask["report"].published.values()),
        # The whole job (evaluation, tuning, ranker and lists included; publish apart) on
        # the tuning night and on the next (the choice carried), and
        # how fast the workers wrote (items/s overall and per worker, bytes).
        "whole_job": _whole_job(m, m.dask),
        "whole_job_choice_carried": _whole_job(m, m.carried),
        "served_model": m.dask["report"].model.served if m.dask["report"].model else None,
        "tuning": _tuning(m.dask["report"].model),
        "publish": {
            "seconds": round(m.dask["publish_seconds"], 2),
            "items": sum(m.dask["report"].published.values()),
            **m.dask["report"].publish,
        },
        "dask_stage_seconds": m.dask["timings"],
        "checks": m.checks,
        **mem,
        "peak_rss_mb_timed_run": round(m.dask["peak_rss_mb"]),
    }
    path.write_text(json.dumps(doc, indent=2))


def main() -> None:
    args = parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("distributed").setLevel(logging.ERROR)
    logging.getLogger("py4j").setLevel(logging.ERROR)

    base = args.keep or Path(tempfile.mkdtemp(prefix="bench-engine-"))
    base.mkdir(parents=True, exist_ok=True)
    try:
        with moto_server() as endpoint:
            measured = measure(args, base, endpoint)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)

    table = engine_rows(measured)
    print_engines(args, measured, table)
    mem = print_memory(args, measured)
    if args.json:
        write_json(args.json, args, measured, table, mem)

if __name__ == "__main__":
    main()
