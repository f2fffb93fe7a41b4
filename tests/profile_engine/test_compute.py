"""compute/*: pure frame functions on small hand-made inputs with worked-out expected values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from profile_engine.compute import (
    assemble,
    codes,
    neighbours,
    popular,
    profiles,
    recommend,
    segment_rules,
)
from profile_engine.compute.catalog import UNCATEGORIZED, Catalog
from tests.profile_engine.conftest import AS_OF, DAY, rows

V, C, P = codes.VIEW, codes.ADD_TO_CART, codes.PURCHASE
A, B, Cc, D, E, F = range(6)  # product codes of the conftest catalogue (sorted ids A..F)


def test_catalog_codes_and_uncategorized() -> None:
    cat = Catalog.from_frame(
        pd.DataFrame(
            {
                "product_id": ["p2", "p1"],
                "name": ["", "One"],
                "category": ["", "toys"],
                "price": [1.0, None],
                "in_stock": [True, None],
            }
        )
    )
    assert list(cat.ids) == ["p1", "p2"]
    assert cat.categories == ("toys", UNCATEGORIZED) or cat.categories == (UNCATEGORIZED, "toys")
    assert [cat.categories[c] for c in cat.category_codes] == ["toys", UNCATEGORIZED]
    assert list(cat.names) == ["One", "p2"]  # a missing name falls back to the id
    assert cat.in_stock.tolist() == [True, True]
    assert cat.codes(pd.Series(["p2", "nope", "p1"])).tolist() == [1, -1, 0]


def test_user_keys_are_stable_int64() -> None:
    keys = codes.user_keys(pd.Series(["u1", "u2", "u1"]))
    assert keys.dtype == np.int64 and keys[0] == keys[2] != keys[1]
    assert codes.user_keys(pd.Series(["u1"]))[0] == keys[0]


def test_resolve_purchases_prefers_orders_per_user() -> None:
    df = rows(
        (1, A, P, 1),
        (1, B, P, 2, 1, 20.0, 99, codes.SRC_ORDER),  # user 1: has order lines
        (2, C, P, 1),
        (2, D, V, 1),  # user 2: events only
    )
    out = profiles.resolve_purchases(df)
    assert sorted(zip(out["uid"], out["pcode"], out["src"], strict=True)) == [
        (1, B, codes.SRC_ORDER),
        (2, C, codes.SRC_EVENT),
        (2, D, codes.SRC_EVENT),
    ]


def test_user_items_weights_decay_and_bought() -> None:
    df = rows((1, A, V, 0), (1, A, C, 14), (1, B, P, 28), (1, -1, P, 1))
    items = profiles.user_items(df, AS_OF).set_index("pcode")
    assert list(items.index) == [A, B]  # the product-less order line is not an item
    # view today (1) + cart two weeks ago (3 * 0.5)
    assert items.loc[A, "score"] == pytest.approx(2.5)
    assert items.loc[A, "n"] == 2 and items.loc[A, "etype"] == C and not items.loc[A, "bought"]
    assert items.loc[A, "last_ts"] == AS_OF
    assert items.loc[B, "score"] == pytest.approx(5 * 0.25) and items.loc[B, "bought"]


def test_category_affinity_shares(catalog: Catalog) -> None:
    items = profiles.user_items(rows((1, A, V, 0), (1, B, V, 0), (1, D, C, 0), (2, E, V, 0)), AS_OF)
    aff = profiles.category_affinity(items, catalog.category_codes)
    got = {(u, catalog.categories[c]): round(s, 4) for u, c, s in aff.itertuples(index=False)}
    assert got == {(1, "books"): 0.4, (1, "garden"): 0.6, (2, "garden"): 1.0}


def test_user_stats_rfm_from_orders_and_events() -> None:
    df = profiles.resolve_purchases(
        rows(
            # user 1: two orders (one with two lines), a cart after the last order
            (1, A, P, 10, 2, 10.0, 500, codes.SRC_ORDER),
            (1, B, P, 10, 1, 5.0, 500, codes.SRC_ORDER),
            (1, C, P, 3, 1, 30.0, 501, codes.SRC_ORDER),
            (1, D, C, 1),
            (1, D, V, 1),
            # user 2: purchase events of one session only (no orders)
            (2, A, P, 4, 3, 10.0, 7),
            (2, B, P, 4, 1, 20.0, 7),
            (3, E, V, 2),
        )
    )
    stats = profiles.user_stats(df, AS_OF).set_index("uid")
    assert stats.loc[1, "frequency"] == 2 and stats.loc[1, "monetary"] == pytest.approx(55.0)
    assert stats.loc[1, "recency_days"] == pytest.approx(3.0)
    assert stats.loc[1, "last_cart_ts"] == AS_OF - DAY and stats.loc[1, "interactions"] == 2
    assert stats.loc[1, "first_purchase_ts"] == AS_OF - 10 * DAY
    assert stats.loc[2, "frequency"] == 1 and stats.loc[2, "monetary"] == pytest.approx(50.0)
    assert stats.loc[3, "frequency"] == 0 and math.isnan(stats.loc[3, "recency_days"])
    assert stats.loc[3, "last_purchase_ts"] == -1 and stats.loc[3, "first_purchase_ts"] == -1


def test_rfm_quintile_scores() -> None:
    money = np.array([10.0, 20.0, 30.0, 40.0, 50.0])
    edges = profiles.quintile_edges(money)
    assert edges.tolist() == [18.0, 26.0, 34.0, 42.0]
    assert profiles.quintile_scores(money, edges).tolist() == [1, 2, 3, 4, 5]
    # recency: fewer days is better
    assert profiles.quintile_scores(money, edges, higher_is_better=False).tolist() == [
        5,
        4,
        3,
        2,
        1,
    ]
    # most buyers have one order: ties at the bottom edge score 1, not 4
    freq = np.array([1, 1, 1, 1, 2, 5])
    assert profiles.quintile_scores(freq, profiles.quintile_edges(freq)).tolist() == [
        1,
        1,
        1,
        1,
        4,
        5,
    ]
    assert profiles.quintile_scores(
        np.array([3.0]), profiles.quintile_edges(np.array([]))
    ).tolist() == [3]


def _counts(block: object) -> dict[tuple[int, int], int]:
    dense = block if isinstance(block, np.ndarray) else block.toarray()  # type: ignore[attr-defined]
    return {(int(a), int(b)): int(dense[a, b]) for a, b in zip(*np.nonzero(dense), strict=True)}


def test_cooccurrence_counts_and_cosine_neighbours(catalog: Catalog) -> None:
    # histories: u1 {A,B,C}, u2 {A,B}, u3 {B,C}, u4 {B,F}: n_A=2, n_B=4, n_C=2, n_F=1
    items = profiles.user_items(
        rows(
            (1, A, V, 1),
            (1, B, V, 2),
            (1, Cc, V, 3),
            (2, A, V, 1),
            (2, B, V, 1),
            (3, B, V, 1),
            (3, Cc, V, 1),
            (4, B, V, 1),
            (4, F, V, 1),
        ),
        AS_OF,
    )
    n, (co,) = neighbours.partition_counts(items, 50, len(catalog), [(0, len(catalog))])
    assert n.tolist() == [2, 4, 2, 0, 0, 1]
    pairs = {k: c for k, c in _counts(co).items() if k[0] != k[1]}
    assert pairs == {
        (A, B): 2,
        (B, A): 2,
        (A, Cc): 1,
        (Cc, A): 1,
        (B, Cc): 2,
        (Cc, B): 2,
        (B, F): 1,
        (F, B): 1,
    }
    assert all(_counts(co)[(i, i)] == n[i] for i in range(len(catalog)) if n[i])  # the diagonal
    nb = neighbours.top_neighbours(co, 0, n, catalog.in_stock, k=5)
    got = {(a, b): round(s, 4) for a, b, s, _ in nb.itertuples(index=False)}
    assert got == {
        (A, B): round(2 / math.sqrt(8), 4),
        (A, Cc): 0.5,
        (B, Cc): round(2 / math.sqrt(8), 4),
        (B, A): round(2 / math.sqrt(8), 4),
        (Cc, B): round(2 / math.sqrt(8), 4),
        (Cc, A): 0.5,
        (F, B): 0.5,  # F is out of stock: it has neighbours, but is nobody's neighbour
    }
    # best first, k per item, min_count filter
    assert nb[nb["a"] == A]["b"].tolist() == [B, Cc]
    assert neighbours.top_neighbours(co, 0, n, catalog.in_stock, k=1)["b"].tolist() == [B, A, B, B]
    strong = neighbours.top_neighbours(co, 0, n, catalog.in_stock, k=5, min_count=2)
    assert set(zip(strong["a"], strong["b"], strict=True)) == {(A, B), (B, A), (B, Cc), (Cc, B)}
    assert neighbours.item_neighbours(items, 50, catalog.in_stock, k=5).equals(nb)
    # a dense block (summed in place) ranks the same, whole or cut into rows, any k
    for k, first in ((1, 0), (5, 0), (10, 0), (2, 2)):
        sparse = neighbours.top_neighbours(co[first:], first, n, catalog.in_stock, k=k)
        dense = neighbours.top_neighbours(co[first:].toarray(), first, n, catalog.in_stock, k=k)
        pd.testing.assert_frame_equal(dense, sparse)
    none = neighbours.top_neighbours(
        np.zeros((0, len(catalog)), np.int32), 6, n, catalog.in_stock, 5
    )
    assert none.empty and none.dtypes.to_dict() == nb.dtypes.to_dict()


def test_pair_counts_add_up_across_partitions(catalog: Catalog) -> None:
    events = rows(*[(u, p, V, d) for u in range(1, 9) for d, p in enumerate([A, B, Cc, (u % 5)])])
    items = profiles.user_items(events, AS_OF)
    whole = [(0, len(catalog))]
    _, (co,) = neighbours.partition_counts(items, 50, len(catalog), whole)
    halves = [
        neighbours.partition_counts(items[items["uid"] % 2 == r], 50, len(catalog), whole)[1][0]
        for r in (0, 1)
    ]
    assert _counts(halves[0] + halves[1]) == _counts(co)


def _random_items(users: int, n_items: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    uid = np.repeat(np.arange(users, dtype=np.int64) * 7919, rng.integers(1, 60, users))
    return (
        pd.DataFrame(
            {
                "uid": uid,
                "pcode": (rng.zipf(1.3, len(uid)) % n_items).astype(np.int32),
                "last_ts": rng.integers(0, 10**9, len(uid)),
            }
        )
        .drop_duplicates(["uid", "pcode"])
        .reset_index(drop=True)
    )


@pytest.mark.parametrize("dense_cells", [1 << 24, 0], ids=["dense", "sparse"])
def test_grouped_block_sums_give_the_one_process_lists(
    monkeypatch: pytest.MonkeyPatch, dense_cells: int
) -> None:
    # Partitions counted in groups, in batches, cut into row blocks, dense or sparse sums,
    # blocks summed again across groups: the lists equal counting everything at once.
    n_items = 700
    items = _random_items(3000, n_items, 3)
    in_stock = np.random.default_rng(4).random(n_items) > 0.1
    expected = neighbours.item_neighbours(items, 20, in_stock, k=10, min_count=2)
    monkeypatch.setattr(neighbours, "DENSE_CELLS", dense_cells)
    monkeypatch.setattr(neighbours, "SPARSE_MERGE", 5_000)
    monkeypatch.setattr(neighbours, "COUNT_BATCH", 4_000)
    monkeypatch.setattr(neighbours, "DENSE_TOP_CELLS", 5_000)  # ranked 7 rows at a time
    bounds = neighbours.block_bounds(n_items, 128)
    parts = [items[items["uid"] % 7 == r] for r in range(7)]
    groups = [neighbours.group_counts(parts[i : i + 3], 20, n_items, bounds) for i in (0, 3, 6)]
    item_users = sum(g[0] for g in groups)
    lists = [
        neighbours.top_neighbours(
            sum(g[1][r] for g in groups[1:]) + groups[0][1][r],
            lo,
            item_users,
            in_stock,
            k=10,
            min_count=2,
        )
        for r, (lo, _) in enumerate(bounds)
    ]
    got = pd.concat(lists, ignore_index=True)
    assert len(got) > 1000
    pd.testing.assert_frame_equal(got, expected)


def test_recent_history_keeps_newest_distinct() -> None:
    items = profiles.user_items(
        rows((1, A, V, 3), (1, B, V, 2), (1, Cc, V, 1), (1, A, V, 5)), AS_OF
    )
    assert neighbours.recent_history(items, 2)["pcode"].tolist() == [Cc, B]


def test_popular_lists_in_stock_per_category(catalog: Catalog) -> None:
    items = profiles.user_items(
        rows((1, A, V, 0), (2, A, V, 30), (3, B, P, 30), (1, F, P, 0), (2, F, P, 0), (1, D, V, 0)),
        AS_OF,
    )
    pop = popular.local_popularity(items, AS_OF).set_index("pcode")
    assert pop.loc[A, "users"] == 2
    # A: today's view (1 x 2.0 boost) + a month-old view (1 x ~1.0)
    assert pop.loc[A, "score"] == pytest.approx(2.0 + 1 + 0.5**10)
    table = popular.popular_table(pop.reset_index(), catalog, k=10)
    overall = table[table["cat"] == popular.OVERALL]
    assert overall["pcode"].tolist() == [B, A, D]  # F (out of stock) never listed
    assert overall["score"].iloc[0] == 1.0
    books = table[table["cat"] == catalog.categories.index("books")]
    assert books["pcode"].tolist() == [B, A] and books["rank"].tolist() == [0, 1]


def _recs_inputs(catalog: Catalog) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    events = rows(
        (1, A, P, 1),
        (1, B, V, 1),  # user 1 bought A, viewed B
        (2, D, V, 1),
        (2, E, V, 2),
        (2, D, V, 2),
        (3, A, V, 1),
        (3, B, V, 1),
        (3, Cc, V, 1),
        (4, B, V, 1),
        (4, F, V, 1),
    )
    items = profiles.user_items(events, AS_OF)
    aff = profiles.category_affinity(items, catalog.category_codes)
    nb = neighbours.item_neighbours(items, 50, catalog.in_stock, k=10)
    pop = popular.popular_table(popular.local_popularity(items, AS_OF), catalog, k=10)
    return items, aff, nb, pop


def test_recommend_excludes_bought_and_out_of_stock_and_explains(catalog: Catalog) -> None:
    items, aff, nb, pop = _recs_inputs(catalog)
    recs = recommend.recommend(
        np.array([1, 2, 3, 4, 99]), items, aff, nb, pop, catalog, k=4, history=50
    )
    by_user = {u: g for u, g in recs.groupby("uid")}
    for g in by_user.values():
        assert F not in g["pcode"].tolist()  # out of stock
        assert g["rank"].tolist() == list(range(len(g))) and len(g) <= 4
        assert (np.diff(g["score"]) <= 0).all()
    assert A not in by_user[1]["pcode"].tolist()  # bought
    first = by_user[1].iloc[0]
    assert first["tier"] == recommend.SIMILAR and first["pcode"] == Cc
    # C is a neighbour of both A (bought, weight 5) and B (viewed): the purchase explains it
    assert (
        recommend.reason_text(
            int(first["tier"]), int(first["source"]), int(first["source_etype"]), catalog
        )
        == "because you bought Atlas"
    )
    # user 2 likes garden: neighbours of D/E are none beyond each other, then popular in garden
    reasons = [
        recommend.reason_text(int(t), int(s), int(e), catalog)
        for t, s, e in zip(
            by_user[2]["tier"], by_user[2]["source"], by_user[2]["source_etype"], strict=True
        )
    ]
    assert reasons[0].startswith("because you viewed")
    assert "popular now" in reasons
    # an unknown user (no history) gets overall popular only
    assert set(by_user[99]["tier"]) == {recommend.OVERALL_POPULAR}
    assert (
        by_user[99]["pcode"].tolist()
        == pop[pop["cat"] == popular.OVERALL]["pcode"].head(4).tolist()
    )


def test_recommend_category_fill_reason(catalog: Catalog) -> None:
    items = profiles.user_items(rows((1, D, V, 1), (2, E, P, 1), (3, E, V, 0)), AS_OF)
    aff = profiles.category_affinity(items, catalog.category_codes)
    pop = popular.popular_table(popular.local_popularity(items, AS_OF), catalog, k=10)
    empty_nb = neighbours.empty()
    recs = recommend.recommend(np.array([1]), items, aff, empty_nb, pop, catalog, k=3, history=50)
    assert recs["pcode"].tolist()[:2] == [E, D]
    assert (
        recommend.reason_text(int(recs["tier"][0]), int(recs["source"][0]), -1, catalog)
        == "popular in garden"
    )


def _summary(**cols: list[object]) -> pd.DataFrame:
    n = len(cols["uid"])
    base: dict[str, list[object]] = {
        "interactions": [5] * n,
        "last_cart_ts": [-1] * n,
        "last_purchase_ts": [-1] * n,
        "frequency": [0] * n,
        "monetary": [0.0] * n,
        "recency_days": [float("nan")] * n,
    }
    return pd.DataFrame({**base, **cols})


def test_segment_rules() -> None:
    summary = _summary(
        uid=[1, 2, 3, 4, 5, 6],
        frequency=[3, 1, 1, 0, 2, 0],
        monetary=[500.0, 20.0, 80.0, 0.0, 100.0, 0.0],
        recency_days=[2.0, 61.0, 10.0, float("nan"), 60.0, float("nan")],
        last_purchase_ts=[
            AS_OF - 2 * DAY,
            AS_OF - 61 * DAY,
            AS_OF - 10 * DAY,
            -1,
            AS_OF - 60 * DAY,
            -1,
        ],
        last_cart_ts=[AS_OF - 3 * DAY, -1, AS_OF - 1 * DAY, AS_OF - 6 * DAY, -1, AS_OF - 8 * DAY],
        interactions=[5, 5, 5, 2, 5, 5],
    )
    affinity = pd.DataFrame(
        {"uid": [1, 1, 4, 6], "cat": [0, 1, 0, 1], "share": [0.35, 0.65, 1.0, 0.3]}
    )
    # The built-in file, with high value as a fixed spend threshold for this small table.
    specs = tuple(
        segment_rules.parse(
            {
                "segment": [
                    {
                        "name": "high_value",
                        "rules": [{"field": "monetary", "op": ">=", "value": 100.0}],
                    }
                ]
            }
        )
        + tuple(s for s in segment_rules.load() if s.name not in {"high_value", "loyal"})
    )
    got = segment_rules.assign(summary, affinity, specs, AS_OF, ("books", "garden"))
    members = {s: sorted(g["uid"]) for s, g in got.groupby("segment")}
    assert members == {
        "high_value": [1, 5],
        "lapsed": [2],  # 60 days exactly is not "more than 60"
        "cart_abandoners": [3, 4],  # 1 carted before buying; 6 carted 8 days ago
        "affinity:books": [1],  # user 4: only 2 interactions; 6: share below 0.35
        "affinity:garden": [1],
    }
    text = segment_rules.descriptions(specs, ("books",))
    assert set(text) == {"high_value", "lapsed", "cart_abandoners", "affinity:books"}
    assert "60 days" in text["lapsed"]


def test_assemble_profiles_and_members(catalog: Catalog) -> None:
    items, aff, nb, pop = _recs_inputs(catalog)
    stats = profiles.user_stats(
        profiles.resolve_purchases(rows((1, A, P, 1, 2, 10.0, 5), (1, B, V, 1))), AS_OF
    )
    people = pd.DataFrame(
        {
            "uid": [1],
            "user_id": ["u1"],
            "email": ["a@example.com"],
            "first_name": ["Ann"],
            "country": ["DE"],
            "opt_in": [True],
            "registered": [True],
            "prio": [0],
        }
    )
    edges = {c: np.array([1.0, 2.0, 3.0, 4.0]) for c in ("recency_days", "frequency", "monetary")}
    summary = profiles.user_summary(stats, aff[aff["uid"] == 1], people, edges, catalog.categories)
    segs = pd.DataFrame({"uid": [1], "segment": ["high_value"]})
    recs = recommend.recommend(np.array([1]), items, aff, nb, pop, catalog, k=3, history=50)
    [profile] = assemble.profiles(summary, segs, items, aff, recs, catalog)
    assert profile.user_id == "u1" and profile.purchased == ("A",) and profile.recent == ("B",)
    assert profile.segments == ("high_value",)
    assert profile.category_affinity == {"books": 1.0}
    assert profile.rfm == {
        "recency_days": 1.0,
        "frequency": 1.0,
        "monetary": 20.0,
        "r": 5.0,
        "f": 1.0,
        "m": 5.0,
    }
    assert [i.product_id for i in profile.recommendations][0] == "C"
    assert "A" not in [i.product_id for i in profile.recommendations]
    [(name, member)] = assemble.segment_members(summary, segs)
    assert name == "high_value" and member.email == "a@example.com" and member.marketing_opt_in
    assert member.attributes == {
        "first_name": "Ann",
        "country": "DE",
        "recency_days": "1",
        "frequency": "1",
        "monetary": "20.00",
        "top_category": "books",
    }


def test_assemble_neighbours_and_popular(catalog: Catalog) -> None:
    _, _, nb, pop = _recs_inputs(catalog)
    lists = {n.product_id: n for n in assemble.neighbour_lists(nb, catalog)}
    assert lists["F"].in_stock is False and [i.product_id for i in lists["F"].items] == ["B"]
    assert lists["A"].category == "books"
    popular_lists = assemble.popular_lists(pop, catalog)
    assert popular_lists[0].category == "" and popular_lists[0].items[0].reason == "popular now"
    assert {p.category for p in popular_lists[1:]} == {"books", "garden"}
