"""The tuning's rows (``stages.quality.sampled_rows``): at most ``tuning_max_users`` users,
every clean row of each, chosen on the workers by a hash of the user id."""

from __future__ import annotations

import dask.dataframe as dd
import numpy as np
import pandas as pd

from profile_engine.compute import codes
from profile_engine.evaluation import data as eval_data
from profile_engine.stages.quality import in_time_order, sampled_rows, user_hash


def _interactions(users: int, seed: int) -> pd.DataFrame:
    """Coded rows as the shuffle leaves them (with a few the cleaning drops), by user."""
    rng = np.random.default_rng(seed)
    n = users * 12
    frame = pd.DataFrame(
        {
            "uid": rng.integers(0, users, n).astype(np.int64) * 7919 + 3,
            "pcode": rng.integers(-1, 50, n).astype(np.int32),  # -1: not in the catalogue
            "ts": rng.integers(0, 10**9, n).astype(np.int64),
            "etype": rng.choice([codes.VIEW, codes.ADD_TO_CART, codes.PURCHASE], n).astype(
                np.int8
            ),
            "qty": rng.integers(0, 3, n).astype(np.int32),  # 0: a purchase the cleaning drops
            "price": rng.random(n) * 10,
        }
    )
    return frame.sort_values("uid", kind="stable").reset_index(drop=True)


def _partitioned(frame: pd.DataFrame) -> dd.DataFrame:
    # Four user-partitions (each user's rows in one), as the job's shuffle leaves them.
    return dd.from_pandas(frame.set_index(frame["uid"].rename("by")), npartitions=4, sort=True)


def test_the_sample_is_every_clean_row_of_the_lowest_hashed_users() -> None:
    frame = _interactions(300, seed=1)
    clean = eval_data.clean(frame)
    users = np.unique(clean["uid"].to_numpy())
    want = users[np.argsort(user_hash(users))[:37]]
    got = sampled_rows(_partitioned(frame), 37)
    assert set(np.unique(got["uid"].to_numpy())) == set(want)
    expected = clean[np.isin(clean["uid"].to_numpy(), want)]
    key = ["uid", "ts", "pcode", "etype"]
    pd.testing.assert_frame_equal(
        got.sort_values(key).reset_index(drop=True)[list(eval_data.COLUMNS)],
        expected.sort_values(key).reset_index(drop=True),
    )
    again = sampled_rows(_partitioned(frame), 37)
    pd.testing.assert_frame_equal(again, got)  # the same users on every run


def test_a_shop_within_the_limit_gives_every_clean_row() -> None:
    frame = _interactions(50, seed=2)
    got = sampled_rows(_partitioned(frame), 1_000)
    assert len(got) == len(eval_data.clean(frame))
    assert got["uid"].nunique() == eval_data.clean(frame)["uid"].nunique()


def test_the_sample_does_not_lean_to_either_half_the_guard_judges_on() -> None:
    """The guard holds out users by the top bit of uid x the golden ratio: a sample by
    that same product would take its users from one half only."""
    uids = np.arange(1, 200_001, dtype=np.int64)
    sample = uids[np.argsort(user_hash(uids))[:20_000]]
    held = ((sample.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(63)) == 1
    assert 0.47 < held.mean() < 0.53


def test_rows_in_time_order_as_a_stable_sort_by_three_columns() -> None:
    """The packed key and the pandas fallback both give the stable sort by (ts, uid, pcode):
    ties kept in their order (a repeated click), hashed ids of any sign."""
    rng = np.random.default_rng(5)
    n = 5_000
    rows = pd.DataFrame({
        "uid": rng.choice(rng.integers(-(2**62), 2**62, 300), n),
        "pcode": rng.integers(0, 40, n).astype(np.int32),
        "ts": rng.integers(10**12, 10**12 + 2_000, n).astype(np.int64),  # many ties
        "etype": np.arange(n).astype(np.int8),  # tells tied rows apart
    })
    want = rows.sort_values(["ts", "uid", "pcode"], kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(in_time_order(rows), want)
    wide = rows.assign(ts=(rows["ts"] - 10**12) * 10**12)  # too wide to pack: pandas sorts
    pd.testing.assert_frame_equal(
        in_time_order(wide),
        wide.sort_values(["ts", "uid", "pcode"], kind="stable").reset_index(drop=True),
    )
    pd.testing.assert_frame_equal(in_time_order(rows.iloc[:0]), want.iloc[:0])
