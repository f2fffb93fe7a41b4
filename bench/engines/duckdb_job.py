"""DuckDB (one process, SQL): the job's aggregation stages over the same files."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd

from engines.params import HISTORY, NEIGHBOURS, POPULAR_SIZE
from profile_engine.compute import codes, popular, profiles
from profile_engine.partitions import MIN_PAIR_COUNT


def run_duckdb(root: Path, out: Path, prods: pd.DataFrame) -> dict[str, Any]:
    """Affinity, popular lists and neighbours as Parquet files under ``out``."""
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
