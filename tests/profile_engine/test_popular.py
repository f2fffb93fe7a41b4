"""compute/popular: recency-boosted popularity, in-stock lists overall and per category."""

from __future__ import annotations

import pytest

from profile_engine.compute import popular, profiles
from profile_engine.compute.catalog import Catalog
from tests.profile_engine.conftest import AS_OF, A, B, D, F, P, V, rows


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
