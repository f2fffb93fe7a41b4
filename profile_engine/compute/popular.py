"""Popular and trending products, overall and per category: the cold-start and fill-up lists."""

from __future__ import annotations

import numpy as np
import pandas as pd

from profile_engine.compute import codes
from profile_engine.compute.catalog import Catalog

# A user's interaction counts once per product (distinct users, not clicks), weighted by its
# strongest type, and up to twice when it happened in the last few days (trending).
TRENDING_HALF_LIFE_DAYS = 3.0
RECENCY_BOOST = 1.0
OVERALL = -1  # category code of the overall list

POPULARITY_DTYPES: dict[str, str] = {"pcode": "int32", "score": "float64", "users": "int64"}
POPULAR_DTYPES: dict[str, str] = {
    "cat": "int32",
    "pcode": "int32",
    "score": "float64",
    "rank": "int32",
}


def local_popularity(items: pd.DataFrame, as_of_ms: int) -> pd.DataFrame:
    """Per product: sum over this partition's users of weight x recency boost, and users."""
    age_days = np.maximum(as_of_ms - items["last_ts"].to_numpy(), 0) / codes.DAY_MS
    boost = 1.0 + RECENCY_BOOST * np.power(0.5, age_days / TRENDING_HALF_LIFE_DAYS)
    work = pd.DataFrame(
        {
            "pcode": items["pcode"].to_numpy(),
            "score": codes.EVENT_WEIGHTS[items["etype"].to_numpy()] * boost,
            "users": np.ones(len(items), dtype=np.int64),
        }
    )
    return work.groupby("pcode", sort=False).sum().reset_index().astype(POPULARITY_DTYPES)


def popular_table(popularity: pd.DataFrame, catalog: Catalog, k: int) -> pd.DataFrame:
    """Top ``k`` in-stock products overall (cat -1) and per category; scores are relative
    to the list's best (1.0), ties broken by more users, then product code."""
    pop = popularity.groupby("pcode", sort=False)[["score", "users"]].sum().reset_index()
    pop = pop[catalog.in_stock[pop["pcode"].to_numpy()]]
    pop = pop.assign(cat=catalog.category_codes[pop["pcode"].to_numpy()])
    pop = pop.sort_values(
        ["score", "users", "pcode"], ascending=[False, False, True], kind="stable"
    )
    lists = [pop.head(k).assign(cat=OVERALL)]
    lists += [group.head(k) for _, group in pop.groupby("cat", sort=True)]
    table = pd.concat(lists, ignore_index=True) if lists else pop
    table["rank"] = table.groupby("cat").cumcount()
    best = table.groupby("cat")["score"].transform("max")
    table["score"] = np.where(best > 0, table["score"] / best, 0.0)
    return table[list(POPULAR_DTYPES)].astype(POPULAR_DTYPES)
