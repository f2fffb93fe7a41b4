"""compute/catalog: product codes, categories (uncategorized included), names, stock."""

from __future__ import annotations

import pandas as pd

from profile_engine.compute.catalog import UNCATEGORIZED, Catalog


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
