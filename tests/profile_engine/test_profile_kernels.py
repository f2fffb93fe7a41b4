"""compute/profile_kernels: the compiled per-user passes give what pandas' groupbys gave
(items and stats to the bit, category shares within rounding, on the same rows)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from profile_engine.compute import codes, profile_kernels, profiles


def _rows(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    users = rng.integers(-(2**62), 2**62, 300)  # hashed keys, signed
    # Skewed: some users have a few hundred rows (the long-run sort), most a handful.
    uid = users[np.minimum(rng.zipf(1.4, n) - 1, len(users) - 1)]
    etype = rng.choice([codes.VIEW, codes.ADD_TO_CART, codes.PURCHASE], n, p=[0.7, 0.2, 0.1])
    return pd.DataFrame(
        {
            "uid": uid,
            "pcode": rng.integers(-1, 40, n).astype(np.int32),  # -1: no product (orders only)
            "etype": etype.astype(np.int8),
            "ts": rng.integers(10**12, 10**12 + 10**10, n),
            "qty": rng.integers(1, 4, n).astype(np.int32),
            "price": np.where(rng.random(n) < 0.05, np.nan, rng.random(n) * 100),
            "okey": rng.integers(0, 30, n),
            "src": rng.integers(0, 2, n).astype(np.int8),
        }
    )


def _pandas_items(df: pd.DataFrame, as_of: int) -> pd.DataFrame:
    df = df[df["pcode"] >= 0]
    etype = df["etype"].to_numpy()
    work = df.assign(
        w=codes.EVENT_WEIGHTS[etype] * profiles.decay(df["ts"].to_numpy(), as_of),
        bought=etype == codes.PURCHASE,
    )
    out = work.groupby(["uid", "pcode"], sort=True).agg(
        last_ts=("ts", "max"), etype=("etype", "max"), score=("w", "sum"), n=("ts", "size"),
        bought=("bought", "any"),
    )
    return out.reset_index().astype(profiles.ITEM_DTYPES)


def _pandas_stats(df: pd.DataFrame) -> pd.DataFrame:
    etype, ts = df["etype"].to_numpy(), df["ts"].to_numpy()
    purchase = etype == codes.PURCHASE
    work = pd.DataFrame(
        {
            "uid": df["uid"].to_numpy(),
            "event": (df["src"].to_numpy() == codes.SRC_EVENT) & (df["pcode"].to_numpy() >= 0),
            "cart_ts": np.where(etype == codes.ADD_TO_CART, ts, -1),
            "purchase_ts": np.where(purchase, ts, -1),
            "first_ts": np.where(purchase, ts, np.iinfo(np.int64).max),
            "spend": np.where(purchase, df["qty"] * np.nan_to_num(df["price"]), 0.0),
        }
    )
    out = work.groupby("uid", sort=True).agg(
        interactions=("event", "sum"), last_cart_ts=("cart_ts", "max"),
        last_purchase_ts=("purchase_ts", "max"), first_purchase_ts=("first_ts", "min"),
        monetary=("spend", "sum"),
    )
    orders = pd.DataFrame({"uid": work["uid"][purchase], "okey": df["okey"][purchase]})
    out["frequency"] = orders.drop_duplicates().groupby("uid").size().reindex(
        out.index, fill_value=0
    )
    out.loc[out["last_purchase_ts"] < 0, "first_purchase_ts"] = -1
    return out.reset_index()


def test_items_and_stats_equal_the_groupbys_to_the_bit() -> None:
    df = _rows(20_000, 1)
    as_of = int(df["ts"].max())
    pd.testing.assert_frame_equal(profiles.user_items(df, as_of), _pandas_items(df, as_of))
    got = profiles.user_stats(df, as_of)
    want = _pandas_stats(df)
    pd.testing.assert_frame_equal(
        got.drop(columns="recency_days"), want[got.columns.drop("recency_days")],
        check_dtype=False, check_exact=True,
    )
    assert (got["frequency"] > 0).sum() == (got["last_purchase_ts"] >= 0).sum()


def test_category_shares_are_the_groupby_shares() -> None:
    items = profiles.user_items(_rows(20_000, 2), 10**12 + 10**10)
    category = np.arange(40) % 7
    got = profiles.category_affinity(items.sample(frac=1.0, random_state=3), category)
    work = items.assign(cat=category[items["pcode"]])
    per_cat = work.groupby(["uid", "cat"])["score"].sum().reset_index()
    per_cat["share"] = per_cat["score"] / per_cat.groupby("uid")["score"].transform("sum")
    want = per_cat[per_cat["share"] > 0].reset_index(drop=True)
    pd.testing.assert_frame_equal(got[["uid", "cat"]], want[["uid", "cat"]], check_dtype=False)
    np.testing.assert_allclose(got["share"], want["share"], rtol=1e-15, atol=0)
    assert np.allclose(got.groupby("uid")["share"].sum(), 1.0)


def test_order_matches_a_lexsort_with_long_runs() -> None:
    rng = np.random.default_rng(4)
    uid = np.repeat(rng.integers(0, 50, 60), rng.integers(1, 200, 60))
    pcode = rng.integers(0, 9, len(uid))
    np.testing.assert_array_equal(
        profile_kernels.by_user_product(uid, pcode), np.lexsort((pcode, uid))
    )
