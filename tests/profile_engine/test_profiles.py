"""compute/profiles: purchases, per-user items, category affinity, RFM stats and scores."""

from __future__ import annotations

import math

import numpy as np
import pytest

from profile_engine.compute import codes, profiles
from profile_engine.compute.catalog import Catalog
from tests.profile_engine.conftest import AS_OF, DAY, A, B, C, D, E, P, V, rows


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
