"""Benchmark: the profile job (Dask, LocalCluster) against PySpark and DuckDB, same input.

Generates a synthetic shop (gzip JSON Lines events + a SQLite replica with customers and
products; the orders tables are left empty so every engine sees the same purchases: the
clickstream's), then in the same run times

- the profile job (``profile_engine.pipeline.run``) on a LocalCluster of ``--workers``
  processes with ``--worker-memory`` each, publishing to moto (DynamoDB on loopback);
  its aggregation stages (catalog, read events, shuffle, profiles, neighbours, popular)
  are the row compared with the others; the whole job and the publish are shown apart;
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
import importlib
import json
import logging
import math
import os
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from profile_engine import synthetic  # noqa: E402
from profile_engine.compute import codes, popular, profiles  # noqa: E402
from profile_engine.partitions import MIN_PAIR_COUNT  # noqa: E402

EVENTS_PER_USER_30D = 50  # what the generator gives per user over 30 days (measured)
DAYS = 30
AGG_STAGES = (
    "catalog",
    "read events",
    "plan replica reads",
    "shuffle by user",
    "profiles",
    "neighbours",
    "popular",
)
HISTORY = 50
NEIGHBOURS = 20
POPULAR_SIZE = 100
SAMPLE = 20


# --------------------------------------------------------------------------- input


def shop_size(target_events: int) -> tuple[int, int]:
    """Customers and products of a shop with about ``target_events`` events."""
    users = max(100, math.ceil(target_events / EVENTS_PER_USER_30D))
    return users, max(500, users // 20)


def generate(
    root: Path, target_events: int, seed: int, products: int | None = None
) -> dict[str, Any]:
    """Events under root/events (gzip JSON Lines, dt= partitions), replica at root/shop.db;
    ``products`` fixes the catalogue size (default: it grows with the customers)."""
    users, scaled = shop_size(target_events)
    products = products or scaled
    started = time.perf_counter()
    shop = synthetic.generate(users, products, DAYS, seed)
    files = synthetic.write_events(shop.events, str(root / "events"), {})
    replica = f"sqlite:///{root / 'shop.db'}"
    # Orders left empty: the job would otherwise replace purchase events by order lines.
    synthetic.write_frames(
        {"customers": shop.customers, "products": shop.products.drop(columns=["cat_idx"])},
        replica,
    )
    return {
        "events": len(shop.events),
        "users": users,
        "products": products,
        "files": files,
        "replica": replica,
        "seconds": time.perf_counter() - started,
    }


def products_frame(root: Path) -> pd.DataFrame:
    with sqlite3.connect(root / "shop.db") as conn:
        df = pd.read_sql("select product_id, category, in_stock from products", conn)
    df["in_stock"] = df["in_stock"].astype(bool)
    return df


# --------------------------------------------------------------------------- dask


class RssSampler(threading.Thread):
    """Peak RSS of every Dask worker process (children of this process started by spawn)."""

    def __init__(self, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.peak: dict[int, int] = {}
        self._halt = threading.Event()
        self._kind: dict[int, bool] = {}

    def _is_worker(self, p: psutil.Process) -> bool:
        if p.pid not in self._kind:
            try:
                cmd = " ".join(p.cmdline())
            except psutil.Error:
                return False
            self._kind[p.pid] = "spawn_main" in cmd
        return self._kind[p.pid]

    def run(self) -> None:
        me = psutil.Process()
        while not self._halt.is_set():
            for child in me.children(recursive=True):
                try:
                    if self._is_worker(child):
                        rss = child.memory_info().rss
                        self.peak[child.pid] = max(self.peak.get(child.pid, 0), rss)
                except psutil.Error:
                    pass
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def run_dask(root: Path, endpoint: str, table: str, workers: int, memory: str) -> dict[str, Any]:
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


def dask_sample(endpoint: str, table: str, generation: str, users: list[str]) -> dict[str, Any]:
    """What the job published: overall popular list, neighbours of its top items, affinities."""
    from profile_engine.publish import dynamodb_client
    from recsvc.store import schema

    ddb = dynamodb_client("us-east-1", endpoint)

    def get(key: dict[str, Any]) -> dict[str, Any] | None:
        item: dict[str, Any] | None = ddb.get_item(TableName=table, Key=key).get("Item")
        return item

    pop_item = get(schema.popular_key(generation, ""))
    assert pop_item is not None, "no overall popular list published"
    pop = schema.decode_popular(pop_item)
    top = [i.product_id for i in pop.items[:SAMPLE]]
    nb = {}
    for pid in top:
        item = get(schema.neighbours_key(generation, pid))
        nb[pid] = (
            [(i.product_id, i.score) for i in schema.decode_neighbours(item).items[:10]]
            if item
            else []
        )
    aff = {}
    for u in users:
        item = get(schema.profile_key(generation, u))
        aff[u] = schema.decode_profile(item).category_affinity if item else None
    return {
        "popular": [(i.product_id, i.score) for i in pop.items[:SAMPLE]],
        "neighbours": nb,
        "affinity": aff,
    }


# --------------------------------------------------------------------------- pyspark


def run_spark(
    root: Path, out: Path, prods: pd.DataFrame, cores: int, partitions: int
) -> dict[str, Any]:
    from pyspark.sql import SparkSession, Window
    from pyspark.sql import functions as F

    started = time.perf_counter()
    spark = (
        SparkSession.builder.master(f"local[{cores}]")
        .appName("bench-engine")
        .config("spark.driver.memory", "4g")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        # The default 200 shuffle partitions are meant for clusters; local mode wants few.
        .config("spark.sql.shuffle.partitions", str(partitions))
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    startup = time.perf_counter() - started

    started = time.perf_counter()
    schema = (
        "ts STRING, user_id STRING, session_id STRING, event_type STRING, "
        "product_id STRING, quantity INT, price DOUBLE, query STRING"
    )
    raw = spark.read.schema(schema).json(str(root / "events" / "dt=*" / "*.jsonl.gz"))
    ev = (
        raw.select(
            "user_id",
            "product_id",
            "event_type",
            F.unix_millis(F.to_timestamp("ts")).alias("ts"),
        )
        .where(F.col("user_id").isNotNull() & F.col("ts").isNotNull())
        .cache()
    )
    as_of = ev.agg(F.max("ts")).first()[0]
    catalog = F.broadcast(spark.createDataFrame(prods))
    etype = (
        F.when(F.col("event_type") == "view", 0)
        .when(F.col("event_type") == "add_to_cart", 1)
        .when(F.col("event_type") == "purchase", 2)
    )
    weight = F.when(F.col("et") == 0, 1.0).when(F.col("et") == 1, 3.0).otherwise(5.0)
    age = F.greatest(F.lit(as_of) - F.col("ts"), F.lit(0)) / codes.DAY_MS
    interactions = (
        ev.withColumn("et", etype)
        .where(F.col("et").isNotNull() & (F.col("ts") <= as_of))
        .join(catalog, "product_id")
        .withColumn("w", weight * F.pow(F.lit(0.5), age / profiles.HALF_LIFE_DAYS))
    )
    items = (
        interactions.groupBy("user_id", "product_id", "category", "in_stock")
        .agg(
            F.max("ts").alias("last_ts"),
            F.max("et").alias("et"),
            F.sum("w").alias("score"),
            F.count("*").alias("n"),
            F.max((F.col("et") == 2).cast("int")).alias("bought"),
        )
        .cache()
    )

    per_cat = items.groupBy("user_id", "category").agg(F.sum("score").alias("score"))
    affinity = per_cat.withColumn(
        "share", F.col("score") / F.sum("score").over(Window.partitionBy("user_id"))
    ).where(F.col("share") > 0)
    affinity.select("user_id", "category", "share").write.parquet(str(out / "affinity"))

    item_age = F.greatest(F.lit(as_of) - F.col("last_ts"), F.lit(0)) / codes.DAY_MS
    boost = 1.0 + popular.RECENCY_BOOST * F.pow(
        F.lit(0.5), item_age / popular.TRENDING_HALF_LIFE_DAYS
    )
    pop = (
        items.where("in_stock")
        .withColumn("s", weight * boost)
        .groupBy("product_id", "category")
        .agg(F.sum("s").alias("score"), F.count("*").alias("users"))
    )
    order = [F.desc("score"), F.desc("users"), F.asc("product_id")]
    overall = pop.withColumn("cat", F.lit("")).withColumn(
        "rank", F.row_number().over(Window.orderBy(*order)) - 1
    )
    per_category = pop.withColumn("cat", F.col("category")).withColumn(
        "rank", F.row_number().over(Window.partitionBy("category").orderBy(*order)) - 1
    )
    lists = overall.unionByName(per_category).where(F.col("rank") < POPULAR_SIZE)
    lists = lists.withColumn(
        "score", F.col("score") / F.max("score").over(Window.partitionBy("cat"))
    )
    lists.select("cat", "product_id", "score", "rank").write.parquet(str(out / "popular"))

    recent = Window.partitionBy("user_id").orderBy(F.desc("last_ts"), F.asc("product_id"))
    history = (
        items.withColumn("r", F.row_number().over(recent))
        .where(F.col("r") <= HISTORY)
        .select("user_id", "product_id", "in_stock")
    )
    n_i = history.groupBy("product_id").agg(F.count("*").alias("n"))
    h_a = history.select("user_id", F.col("product_id").alias("a"))
    h_b = history.select(
        "user_id", F.col("product_id").alias("b"), F.col("in_stock").alias("b_stock")
    )
    pairs = (
        h_a.join(h_b, "user_id")
        .where((F.col("a") != F.col("b")) & F.col("b_stock"))
        .groupBy("a", "b")
        .agg(F.count("*").alias("c"))
        .where(F.col("c") >= MIN_PAIR_COUNT)
        .join(n_i.select(F.col("product_id").alias("a"), F.col("n").alias("na")), "a")
        .join(n_i.select(F.col("product_id").alias("b"), F.col("n").alias("nb")), "b")
        .withColumn("score", F.col("c") / F.sqrt(F.col("na") * F.col("nb")))
    )
    best = Window.partitionBy("a").orderBy(F.desc("score"), F.asc("b"))
    (
        pairs.withColumn("r", F.row_number().over(best))
        .where(F.col("r") <= NEIGHBOURS)
        .select("a", "b", "score", "c")
        .write.parquet(str(out / "neighbours"))
    )
    seconds = time.perf_counter() - started
    spark.stop()
    return {"seconds": seconds, "startup": startup}


# --------------------------------------------------------------------------- duckdb


def run_duckdb(root: Path, out: Path, prods: pd.DataFrame) -> dict[str, Any]:
    import duckdb

    started = time.perf_counter()
    con = duckdb.connect()
    con.register("catalog", prods)
    files = str(root / "events" / "dt=*" / "*.jsonl.gz")
    con.execute(
        f"""
        create table ev as
        select user_id, product_id, event_type, epoch_ms(ts::timestamptz) as ts
        from read_json('{files}', format='newline_delimited', hive_partitioning=false,
            columns={{ts: 'VARCHAR', user_id: 'VARCHAR', session_id: 'VARCHAR',
                     event_type: 'VARCHAR', product_id: 'VARCHAR', quantity: 'INTEGER',
                     price: 'DOUBLE', query: 'VARCHAR'}})
        where user_id is not null and ts is not null
        """
    )
    (as_of,) = con.execute("select max(ts) from ev").fetchone()  # type: ignore[misc]
    con.execute(
        f"""
        create table items as
        with i as (
            select e.user_id, e.product_id, c.category, c.in_stock, e.ts,
                case e.event_type when 'view' then 0 when 'add_to_cart' then 1 else 2 end as et
            from ev e join catalog c using (product_id)
            where e.event_type in ('view', 'add_to_cart', 'purchase') and e.ts <= {as_of}
        )
        select user_id, product_id, any_value(category) as category,
            any_value(in_stock) as in_stock, max(ts) as last_ts, max(et) as et,
            sum([1.0, 3.0, 5.0][et + 1]
                * pow(0.5, greatest({as_of} - ts, 0) / {codes.DAY_MS}
                           / {profiles.HALF_LIFE_DAYS})) as score,
            count(*) as n, bool_or(et = 2) as bought
        from i group by user_id, product_id
        """
    )
    con.execute(
        f"""
        copy (
            select user_id, category, score / sum(score) over (partition by user_id) as share
            from (select user_id, category, sum(score) as score from items
                  group by user_id, category)
            qualify share > 0
        ) to '{out / "affinity.parquet"}' (format parquet)
        """
    )
    con.execute(
        f"""
        copy (
            with p as (
                select product_id, any_value(category) as category,
                    sum([1.0, 3.0, 5.0][et + 1] * (1 + {popular.RECENCY_BOOST} * pow(0.5,
                        greatest({as_of} - last_ts, 0) / {codes.DAY_MS}
                        / {popular.TRENDING_HALF_LIFE_DAYS}))) as score,
                    count(*) as users
                from items where in_stock group by product_id
            ), l as (
                select '' as cat, product_id, score, row_number() over (
                    order by score desc, users desc, product_id) - 1 as rank from p
                union all
                select category, product_id, score, row_number() over (partition by category
                    order by score desc, users desc, product_id) - 1 from p
            )
            select cat, product_id, score / max(score) over (partition by cat) as score, rank
            from l where rank < {POPULAR_SIZE}
        ) to '{out / "popular.parquet"}' (format parquet)
        """
    )
    con.execute(
        f"""
        copy (
            with h as (
                select user_id, product_id, in_stock from items
                qualify row_number() over (partition by user_id
                    order by last_ts desc, product_id) <= {HISTORY}
            ), n as (select product_id, count(*) as n from h group by product_id),
            pairs as (
                select x.product_id as a, y.product_id as b, count(*) as c
                from h x join h y on x.user_id = y.user_id and x.product_id <> y.product_id
                where y.in_stock
                group by all having count(*) >= {MIN_PAIR_COUNT}
            )
            select a, b, c / sqrt(na.n * nb.n) as score, c
            from pairs join n na on na.product_id = a join n nb on nb.product_id = b
            qualify row_number() over (partition by a order by score desc, b) <= {NEIGHBOURS}
        ) to '{out / "neighbours.parquet"}' (format parquet)
        """
    )
    con.close()
    return {"seconds": time.perf_counter() - started, "startup": 0.0}


# --------------------------------------------------------------------------- checks


def read_outputs(out: Path) -> dict[str, pd.DataFrame]:
    def load(name: str) -> pd.DataFrame:
        path = out / name if (out / name).is_dir() else out / f"{name}.parquet"
        return pd.read_parquet(path)

    return {n: load(n) for n in ("affinity", "popular", "neighbours")}


def sample_users(outputs: dict[str, pd.DataFrame]) -> list[str]:
    users = np.sort(outputs["affinity"]["user_id"].unique())
    step = max(1, len(users) // SAMPLE)
    return [str(u) for u in users[::step][:SAMPLE]]


def compare(ref: dict[str, Any], outputs: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """Mismatches between an engine's outputs and the Dask job's published sample."""
    problems: list[str] = []
    pop = outputs["popular"]
    overall = pop[pop["cat"] == ""].sort_values("rank").head(SAMPLE)
    mine = list(zip(overall["product_id"], overall["score"], strict=True))
    if [p for p, _ in mine] != [p for p, _ in ref["popular"]]:
        problems.append("overall popular list differs")
    elif not np.allclose([s for _, s in mine], [s for _, s in ref["popular"]], atol=2e-6):
        problems.append("overall popular scores differ")
    nb = outputs["neighbours"]
    groups = {a: g for a, g in nb.groupby("a")}
    for pid, want in ref["neighbours"].items():
        g = groups.get(pid)
        got = [] if g is None else g.sort_values(["score", "b"], ascending=[False, True]).head(10)
        got_l = [] if g is None else list(zip(got["b"], got["score"], strict=True))
        if [p for p, _ in got_l] != [p for p, _ in want]:
            problems.append(f"neighbours of {pid} differ")
        elif want and not np.allclose([s for _, s in got_l], [s for _, s in want], atol=2e-6):
            problems.append(f"neighbour scores of {pid} differ")
    aff = outputs["affinity"]
    by_user = {u: g for u, g in aff[aff["user_id"].isin(list(ref["affinity"]))].groupby("user_id")}
    for u, want in ref["affinity"].items():
        if want is None:
            problems.append(f"user {u} not published by the job")
            continue
        g = by_user.get(u)
        got = {} if g is None else dict(zip(g["category"], g["share"], strict=True))
        if set(got) != set(want) or any(abs(got[c] - want[c]) > 1e-4 for c in want):
            problems.append(f"affinity of {u} differs")
    checked = f"{len(ref['popular'])} popular, {len(ref['neighbours'])} items' top-10 neighbours, "
    checked += f"{len(ref['affinity'])} users' affinities"
    return {"ok": not problems, "checked": checked, "problems": problems[:10]}


# --------------------------------------------------------------------------- main


def memory_run(
    root: Path, events: int, args: argparse.Namespace, endpoint: str, ddb: Any, table: str
) -> dict[str, Any]:
    """The whole job on a fresh shop of ``events`` events with the fixed worker memory; the
    catalogue stays that of the 1x shop unless --scale-catalog."""
    from recsvc.store import schema

    products = None if args.scale_catalog else shop_size(args.memory_events or args.events)[1]
    gen = generate(root, events, args.seed, products)
    print(
        f"shop     {gen['events']:,} events, {gen['users']:,} customers, {gen['products']:,}"
        f" products (memory run) in {gen['seconds']:.0f} s",
        flush=True,
    )
    ddb.create_table(**schema.table_definition(table))
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


def main() -> None:
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
    args = parser.parse_args()

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("distributed").setLevel(logging.ERROR)
    logging.getLogger("py4j").setLevel(logging.ERROR)
    from moto.server import ThreadedMotoServer

    from profile_engine.publish import dynamodb_client
    from recsvc.store import schema

    base = args.keep or Path(tempfile.mkdtemp(prefix="bench-engine-"))
    base.mkdir(parents=True, exist_ok=True)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    ddb = dynamodb_client("us-east-1", endpoint)
    try:
        shop1 = base / "x1"
        gen = generate(shop1, args.events, args.seed)
        n = gen["events"]
        print(
            f"shop     {n:,} events ({gen['users']:,} customers, {gen['products']:,} products,"
            f" {DAYS} days, {gen['files']} .jsonl.gz files) in {gen['seconds']:.0f} s",
            flush=True,
        )
        ddb.create_table(**schema.table_definition("bench1"))
        dask1 = run_dask(shop1, endpoint, "bench1", args.workers, args.worker_memory)
        print(
            "dask     " + ", ".join(f"{k} {v:.1f}" for k, v in dask1["timings"].items()),
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
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)

    agg = dask1["agg_seconds"]
    rows = [
        ("dask (aggregation stages)", agg),
        ("dask (whole job, no publish)", dask1["job_seconds"]),
        *((name, e["seconds"]) for name, e in engines.items()),
    ]
    table = []
    for name, secs in rows:
        table.append(
            {
                "engine": name,
                "seconds": round(secs, 2),
                "events_per_s": round(n / secs),
                "ratio_vs_dask": round(agg / secs, 2),
            }
        )
    publish_s = dask1["publish_seconds"]
    print()
    cores = psutil.cpu_count()
    print(f"{n:,} events, {args.workers} Dask workers x {args.worker_memory}, {cores} cores")
    print(f"{'engine':<30} {'seconds':>8} {'events/s':>10} {'x dask':>7}  check")
    for r in table:
        chk = checks.get(r["engine"])
        note = (
            "" if chk is None else ("ok" if chk["ok"] else "DIFFERS: " + "; ".join(chk["problems"]))
        )
        print(
            f"{r['engine']:<30} {r['seconds']:>8.1f} {r['events_per_s']:>10,} "
            f"{r['ratio_vs_dask']:>7.2f}  {note}"
        )
    published = sum(dask1["report"].published.values())
    print(
        f"{'publish to DynamoDB (moto)':<30} {publish_s:>8.1f}  "
        f"({published:,} items, {published / publish_s:,.0f} items/s)"
    )
    for name, e in engines.items():
        if e["startup"]:
            print(f"({name} start-up, not timed above: {e['startup']:.1f} s)")
    if checks:
        print("checked: " + next(iter(checks.values()))["checked"])
    for name, e in engines.items():
        if name == "pyspark":
            print(
                f"target: dask >= 2x pyspark's events/s; it is {e['seconds'] / agg:.2f}x ->"
                f" {'met' if e['seconds'] >= 2 * agg else 'NOT met'}"
            )
        if name == "duckdb":
            met = "met" if agg <= 2 * e["seconds"] else "NOT met"
            print(
                f"target: dask within 2x of duckdb's events/s; duckdb is"
                f" {agg / e['seconds']:.2f}x dask -> {met}"
            )
    mem: dict[str, Any] = {"peak_rss_mb_1x": None, "peak_rss_mb_4x": None}
    if mem1 and mem4:
        mem = {
            "peak_rss_mb_1x": round(mem1["peak_rss_mb"]),
            "peak_rss_mb_4x": None if mem4.get("failed") else round(mem4["peak_rss_mb"]),
        }
        ratio = mem4["peak_rss_mb"] / mem1["peak_rss_mb"]
        verdict = "within" if ratio <= 1.3 else "NOT within"
        print(
            f"peak RSS per worker ({args.worker_memory} limit): "
            f"{mem1['events']:,} events {mem['peak_rss_mb_1x']} MB "
            f"{mem1['peak_rss_mb_per_worker']} (restarts {mem1['worker_restarts']}); "
            f"{mem4['events']:,} events {mem['peak_rss_mb_4x']} MB "
            f"{mem4['peak_rss_mb_per_worker']} (restarts {mem4['worker_restarts']}); "
            f"4x/1x {ratio:.2f}, {verdict} 1.3x"
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

    if args.json:
        doc = {
            "events": n,
            "workers": args.workers,
            "worker_memory": args.worker_memory,
            "engines": {
                r["engine"]: {k: r[k] for k in ("seconds", "events_per_s", "ratio_vs_dask")}
                for r in table
            },
            "publish_seconds": round(publish_s, 2),
            "published_items": published,
            "dask_stage_seconds": dask1["timings"],
            "checks": checks,
            **mem,
            "peak_rss_mb_timed_run": round(dask1["peak_rss_mb"]),
        }
        args.json.write_text(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
