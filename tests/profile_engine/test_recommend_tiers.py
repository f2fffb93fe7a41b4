"""compute/recommend builds the popular tiers only for users the tiers before left short,
and the neighbours' tier with sparse products: its lists equal those of joining and sorting
every candidate of every user at once in pandas (the references below)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from profile_engine.compute import codes, neighbours, popular, profiles, recommend, similar
from profile_engine.compute.catalog import Catalog
from profile_engine.compute.neighbours import recent_history
from profile_engine.compute.popular import OVERALL
from profile_engine.compute.profiles import top_categories
from tests.profile_engine.conftest import AS_OF

DAY = codes.DAY_MS


def reference_similar(
    items: pd.DataFrame, neighbours: pd.DataFrame, history: int, k: int
) -> pd.DataFrame:
    """(uid, pcode, score in (0.5, 1], source pcode, source etype): best ``k`` neighbours of
    the user's recent products, bought products excluded."""
    hist = recent_history(items, history)[["uid", "pcode", "score", "etype"]]
    cand = hist.merge(
        neighbours[["a", "b", "score"]].rename(columns={"a": "pcode", "score": "sim"}), on="pcode"
    )
    cand = cand.assign(contrib=cand["score"] * cand["sim"]).rename(
        columns={"pcode": "source", "etype": "source_etype"}
    )
    cand = recommend._without(cand, items[items["bought"]], on="b")
    if cand.empty:
        return pd.DataFrame({"uid": [], "pcode": [], "score": [], "source": [], "source_etype": []})
    cand = cand.sort_values(
        ["uid", "b", "contrib", "source"], ascending=[True, True, False, True], kind="stable"
    )
    best = cand.drop_duplicates(["uid", "b"], keep="first").set_index(["uid", "b"])
    total = cand.groupby(["uid", "b"], sort=False)["contrib"].sum()
    best = best.assign(total=total).reset_index()
    best = best.sort_values(["uid", "total", "b"], ascending=[True, False, True], kind="stable")
    best = best[best.groupby("uid").cumcount().to_numpy() < k]
    top = best.groupby("uid")["total"].transform("max")
    return pd.DataFrame(
        {
            "uid": best["uid"].to_numpy(),
            "pcode": best["b"].to_numpy(),
            "score": similar.SIMILAR_FLOOR
            + (1 - similar.SIMILAR_FLOOR) * (best["total"] / top).to_numpy(),
            "source": best["source"].to_numpy(),
            "source_etype": best["source_etype"].to_numpy(),
        }
    )


def reference(users: np.ndarray, items: pd.DataFrame, affinity: pd.DataFrame,
              nb: pd.DataFrame, pop: pd.DataFrame, catalog: Catalog, k: int, history: int,
              ranked: pd.DataFrame | None) -> pd.DataFrame:
    """Every tier for every user, one sort (what recommend() did before)."""
    similar = (reference_similar(items, nb, history, k) if ranked is None
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
@pytest.mark.parametrize("tied", [False, True])
def test_lists_equal_one_sort_of_every_tier(seed: int, k: int, with_ranker: bool,
                                            tied: bool) -> None:
    catalog, events = shop(seed)
    items = profiles.user_items(events, AS_OF)
    aff = profiles.category_affinity(items, catalog.category_codes)
    nb = neighbours.item_neighbours(items, 50, catalog.in_stock, k=8)
    pop = popular.popular_table(popular.local_popularity(items, AS_OF), catalog, k=12)
    if tied:  # runs of equal scores across the cut of a list's head
        pop = pop.assign(score=pop["score"].round(1))
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


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
@pytest.mark.parametrize("k", [1, 5, 20])
def test_similar_items_equal_the_joined_candidates(seed: int, k: int) -> None:
    catalog, events = shop(seed)
    items = profiles.user_items(events, AS_OF)
    nb = neighbours.item_neighbours(items, 50, catalog.in_stock, k=8)
    got = similar.similar_items(items, nb, 6, k)
    want = reference_similar(items, nb, 6, k)
    assert len(got) > 100
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True),
                                  check_dtype=False, check_exact=False, rtol=1e-12)


@pytest.mark.parametrize("served", ["most_popular", "category_popular", "item_neighbours"])
def test_hashed_user_ids_keep_every_bit(served: str) -> None:
    """Anonymous visitors' ids are 64-bit hashes: an empty tier must not turn them into
    floats (which drops their low bits) when the popular tiers are added."""
    catalog, events = shop(5)
    base = np.int64(-8_939_084_835_064_168_235)
    events = events.assign(uid=base + events["uid"].to_numpy() * 7)
    items = profiles.user_items(events, AS_OF)
    aff = profiles.category_affinity(items, catalog.category_codes)
    nb = neighbours.item_neighbours(items, 50, catalog.in_stock, k=8)
    pop = popular.popular_table(popular.local_popularity(items, AS_OF), catalog, k=12)
    users = np.unique(items["uid"].to_numpy())
    recs = recommend.recommend(users, items, aff, nb, pop, catalog, 5, 50, None, served)
    assert recs["uid"].dtype == np.int64
    assert set(recs["uid"]) == set(users.tolist())
