"""Per-user profile figures from one user-partitioned slice of interactions: items, affinity, RFM.

Every function takes the rows of complete users (the job shuffles by user once), so all
groupbys here are local pandas work.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from profile_engine.compute import codes, profile_kernels

# Interest halves every two weeks: last month's views still count, last quarter's barely.
HALF_LIFE_DAYS = 14.0
QUINTILES = (0.2, 0.4, 0.6, 0.8)

ITEM_DTYPES: dict[str, str] = {
    "uid": "int64",
    "pcode": "int32",
    "last_ts": "int64",
    "etype": "int8",  # strongest interaction: view < add_to_cart < purchase
    "score": "float64",  # sum of event weights, each decayed by its age
    "n": "int32",
    "bought": "bool",
}
AFFINITY_DTYPES: dict[str, str] = {"uid": "int64", "cat": "int32", "share": "float64"}
STATS_DTYPES: dict[str, str] = {
    "uid": "int64",
    "interactions": "int32",  # clickstream events with a product
    "last_cart_ts": "int64",  # -1: never
    "last_purchase_ts": "int64",  # -1: never
    "first_purchase_ts": "int64",  # -1: never
    "frequency": "int32",  # purchase occasions (orders, or sessions with a purchase)
    "monetary": "float64",
    "recency_days": "float64",  # NaN: never bought
}


def decay(ts: np.ndarray, as_of_ms: int, half_life_days: float = HALF_LIFE_DAYS) -> np.ndarray:
    age_days = np.maximum(as_of_ms - ts, 0) / codes.DAY_MS
    weights: np.ndarray = np.power(0.5, age_days / half_life_days)
    return weights


def resolve_purchases(df: pd.DataFrame) -> pd.DataFrame:
    """Orders are the system of record: a user with order lines keeps those as purchases and
    drops purchase events (they describe the same orders); users without order lines keep
    their purchase events. So neither source is counted twice and either may be missing."""
    with_orders = df.loc[df["src"] == codes.SRC_ORDER, "uid"].unique()
    duplicate = (
        (df["src"] == codes.SRC_EVENT)
        & (df["etype"] == codes.PURCHASE)
        & df["uid"].isin(with_orders)
    )
    return df[~duplicate.to_numpy(bool)].reset_index(drop=True)


def user_items(df: pd.DataFrame, as_of_ms: int) -> pd.DataFrame:
    """One row per (user, product) the user interacted with, by user then product."""
    df = df[df["pcode"].to_numpy() >= 0]
    etype = df["etype"].to_numpy()
    ts = df["ts"].to_numpy()
    columns = profile_kernels.user_items(
        df["uid"].to_numpy(), df["pcode"].to_numpy(), ts, etype,
        codes.EVENT_WEIGHTS[etype] * decay(ts, as_of_ms), codes.PURCHASE,
    )
    return pd.DataFrame(columns).astype(ITEM_DTYPES)


def category_affinity(items: pd.DataFrame, category_codes: np.ndarray) -> pd.DataFrame:
    """Each user's share of decayed interaction weight per category (sums to 1 per user)."""
    if items.empty:
        return codes.empty_frame(AFFINITY_DTYPES)
    columns = profile_kernels.category_shares(
        items["uid"].to_numpy(),
        category_codes[items["pcode"].to_numpy()],
        items["score"].to_numpy(),
        int(category_codes.max()) + 1,
    )
    return pd.DataFrame(columns).astype(AFFINITY_DTYPES)


def user_stats(df: pd.DataFrame, as_of_ms: int) -> pd.DataFrame:
    """Activity and RFM raw figures of every user in ``df`` (after ``resolve_purchases``)."""
    if df.empty:
        return codes.empty_frame(STATS_DTYPES)
    etype = df["etype"].to_numpy()
    purchase = etype == codes.PURCHASE
    out = pd.DataFrame(
        profile_kernels.user_stats(
            df["uid"].to_numpy(),
            (df["src"].to_numpy() == codes.SRC_EVENT) & (df["pcode"].to_numpy() >= 0),
            etype,
            df["ts"].to_numpy(),
            np.where(purchase, df["qty"].to_numpy() * np.nan_to_num(df["price"].to_numpy()), 0.0),
            df["okey"].to_numpy(),
            codes.ADD_TO_CART,
            codes.PURCHASE,
        )
    )
    bought = out["last_purchase_ts"].to_numpy() >= 0
    out["recency_days"] = np.where(
        bought, (as_of_ms - out["last_purchase_ts"].to_numpy()) / codes.DAY_MS, np.nan
    )
    return out[list(STATS_DTYPES)].astype(STATS_DTYPES)


def quintile_edges(values: np.ndarray) -> np.ndarray:
    """The 20/40/60/80th percentiles (what the pipeline computes with dask across partitions)."""
    if len(values) == 0:
        return np.full(len(QUINTILES), np.nan)
    edges: np.ndarray = np.quantile(np.asarray(values, dtype=float), QUINTILES)
    return edges


def quintile_scores(
    values: np.ndarray, edges: Sequence[float] | np.ndarray, higher_is_better: bool = True
) -> np.ndarray:
    """RFM scores 1..5 from quintile edges: a value moves up a band only when it is strictly
    beyond an edge, so ties at an edge stay in the band below it. Most buyers have one order;
    with edges [1, 1, 1, 2] they score f=1, not 4."""
    values = np.asarray(values, dtype=float)
    cuts = np.asarray(edges, dtype=float)
    if np.isnan(cuts).any():
        return np.full(len(values), 3, dtype=np.int8)
    below = np.searchsorted(cuts, values, side="left")  # edges strictly below each value
    return (1 + below if higher_is_better else 5 - below).astype(np.int8)


def rfm_scores(stats: pd.DataFrame, edges: dict[str, np.ndarray]) -> pd.DataFrame:
    """``stats`` plus r, f, m (1..5 for buyers, 0 for users who never bought)."""
    out = stats.copy()
    bought = (out["frequency"] > 0).to_numpy()
    for col, source, higher in (
        ("r", "recency_days", False),
        ("f", "frequency", True),
        ("m", "monetary", True),
    ):
        score = np.zeros(len(out), dtype=np.int8)
        score[bought] = quintile_scores(out[source].to_numpy()[bought], edges[source], higher)
        out[col] = score
    return out


def top_categories(affinity: pd.DataFrame, n: int) -> pd.DataFrame:
    """Each user's ``n`` strongest categories (uid, cat, share, rank 0..n-1)."""
    ranked = affinity.sort_values(
        ["uid", "share", "cat"], ascending=[True, False, True], kind="stable"
    )
    ranked = ranked.assign(rank=ranked.groupby("uid").cumcount())
    return ranked[ranked["rank"] < n].reset_index(drop=True)


SUMMARY_COLUMNS = [
    "uid",
    "user_id",
    "email",
    "first_name",
    "country",
    "opt_in",
    "registered",
    "interactions",
    "last_cart_ts",
    "last_purchase_ts",
    "frequency",
    "monetary",
    "recency_days",
    "r",
    "f",
    "m",
    "top_category",
]


def user_summary(
    stats: pd.DataFrame,
    affinity: pd.DataFrame,
    people: pd.DataFrame,
    edges: dict[str, np.ndarray],
    categories: Sequence[str],
) -> pd.DataFrame:
    """One row per active user: identity and contact fields, activity, RFM, top category.
    Users whose id is unknown (no people row) are left out: nothing could be published."""
    scored = rfm_scores(stats, edges)
    top = top_categories(affinity, 1)
    names = np.array(list(categories), dtype=object)
    scored["top_category"] = (
        pd.Series(names[top["cat"].to_numpy()], index=top["uid"].to_numpy())
        .reindex(scored["uid"].to_numpy(), fill_value="")
        .to_numpy()
    )
    joined = scored.merge(people.drop(columns=["prio"]), on="uid", how="inner")
    return joined[SUMMARY_COLUMNS].sort_values("uid").reset_index(drop=True)
