"""PySpark (local[N], DataFrame API): the job's aggregation stages written the obvious way."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd

from engines.params import HISTORY, NEIGHBOURS, POPULAR_SIZE
from profile_engine.compute import codes, popular, profiles
from profile_engine.partitions import MIN_PAIR_COUNT


def run_spark(
    root: Path, out: Path, prods: pd.DataFrame, cores: int, partitions: int
) -> dict[str, Any]:
    """Affinity, popular lists and neighbours as Parquet under ``out``; start-up apart."""
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
