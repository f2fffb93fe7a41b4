"""compute/recommend builds the popular tiers only for users the tiers before left short:
its lists equal those of sorting every tier of every user at once (the reference below)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from profile_engine.compute import codes, neighbours, popular, profiles, recommend
from profile_engine.compute.catalog import Catalog
from profile_engine.compute.popular import OVERALL
from profile_engine.compute.profiles import top_categories
from tests.profile_engine.conftest import AS_OF

DAY = codes.DAY_MS


def reference(users: np.ndarray, items: pd.DataFrame, affinity: pd.DataFrame,
              nb: pd.DataFrame, pop: pd.DataFrame, catalog: Catalog, k: int, history: int,
              ranked: pd.DataFrame | None) -> pd.DataFrame:
    """Every tier for every user, one sort (what recommend() did before)."""
    similar = (recommend.similar_items(items, nb, history, k) if ranked is None
               else recommend._banded(ranked, k))
    top = top_categories(affinity, recommend.TOP_CATEGORIES)
    in_cat = top.merge(pop[pop["cat"] != OVERALL], on="cat", suffixes=("", "_pop"))
    overall = pop[pop["cat"] == OVERALL].head(k + 200)
    cand = pd.concat([
        pd.DataFrame({"uid": similar["uid"], "pcode": similar["pcode"],
                      "score": similar["score"], "tier": 0, "source": similar["source"],
                      "source_etype": similar["source_etype"]}),
        pd.DataFrame({"uid": in_cat["uid"].to_numpy(), "pcode": in_cat["pcode"].to_numpy(),
                      "score": recommend.CATEGORY_CEILING
                      * (in_cat["share"] * in_cat["score"]).to_numpy(),
                      "tier": 1, "source": in_cat["cat"].to_numpy(), "source_etype": -1}),
        pd.DataFrame({"uid": np.repeat(users, len(overall)),
                      "pcode": np.tile(overall["pcode"].to_numpy(), len(users)),
                      "score": np.tile(recommend.OVERALL_CEILING * overall["score"].to_numpy(),
                                       len(users)),
                      "tier": 2, "source": -1, "source_etype": -1}),
    ], ignore_index=True)
    cand = cand[catalog.in_stock[cand["pcode"].to_numpy(dtype=np.int64)]]
    cand = recommend._without(cand, items[items["bought"].to_numpy()], on="pcode")
    cand = cand.sort_values(["uid", "tier", "score", "pcode"],
                            ascending=[True, True, False, True], kind="stable")
    cand = cand.drop_duplicates(["uid", "pcode"], keep="first")
    cand = cand.assign(rank=cand.groupby("uid").cumcount())
    cand = cand[cand["rank"].to_numpy() < k].copy()
    cand["score"] = cand.groupby("uid")["score"].cummin()
    return cand[list(recommend.RECS_DTYPES)].reset_index(drop=True).astype(
        recommend.RECS_DTYPES)


def shop(seed: int) -> tuple[Catalog, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n = 40
    catalog = Catalog.from_frame(pd.DataFrame({
        "product_id": [f"P{i:03d}" for i in range(n)],
        "name": [f"product {i}" for i in range(n)],
        "category": rng.choice(["books", "garden", "toys", "food"], n),
        "price": rng.uniform(1, 50, n),
        "in_stock": rng.random(n) > 0.15,
    }))
    rows = 1500
    events = pd.DataFrame({
        "uid": rng.integers(1, 120, rows),
        # Skewed: a few products take most events, as in a shop.
        "pcode": np.minimum(rng.zipf(1.4, rows) - 1, n - 1),
        "etype": rng.choice([codes.VIEW, codes.ADD_TO_CART, codes.PURCHASE], rows,
                            p=[0.7, 0.2, 0.1]),
        "ts": AS_OF - rng.integers(0, 30 * DAY, rows),
        "qty": 1, "price": 10.0, "okey": 0, "src": codes.SRC_EVENT,
    }).astype(codes.INTERACTION_DTYPES)
    return catalog, events


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("k", [1, 4, 10, 30])
@pytest.mark.parametrize("with_ranker", [False, True])
def test_lists_equal_one_sort_of_every_tier(seed: int, k: int, with_ranker: bool) -> None:
    catalog, events = shop(seed)
    items = profiles.user_items(events, AS_OF)
    aff = profiles.category_affinity(items, catalog.category_codes)
    nb = neighbours.item_neighbours(items, 50, catalog.in_stock, k=8)
    pop = popular.popular_table(popular.local_popularity(items, AS_OF), catalog, k=12)
    users = np.union1d(np.unique(items["uid"].to_numpy()), [500, 501])  # two with no history
    ranked = None
    if with_ranker:  # a stand-in ranker's lists: random scores, best first per user
        rng = np.random.default_rng(seed)
        ranked = pd.DataFrame({
            "uid": np.repeat(users[::2], 6),
            "pcode": rng.integers(0, len(catalog), 6 * len(users[::2])).astype(np.int32),
            "score": rng.random(6 * len(users[::2])),
            "source": -1, "source_etype": -1,
        }).drop_duplicates(["uid", "pcode"])
        ranked = ranked.sort_values(["uid", "score"], ascending=[True, False])
    got = recommend.recommend(users, items, aff, nb, pop, catalog, k, 50, ranked)
    want = reference(users, items, aff, nb, pop, catalog, k, 50, ranked)
    pd.testing.assert_frame_equal(got, want)
    assert set(got["tier"]) > {0}  # the popular tiers were needed somewhere
