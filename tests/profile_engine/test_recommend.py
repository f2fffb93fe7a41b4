"""compute/recommend: exclusions, tiers, ranks and the reasons given."""

from __future__ import annotations

import numpy as np

from profile_engine.compute import neighbours, popular, profiles, recommend
from profile_engine.compute.catalog import Catalog
from tests.profile_engine.conftest import AS_OF, A, Cc, D, E, F, P, V, recs_inputs, rows


def test_recommend_excludes_bought_and_out_of_stock_and_explains(catalog: Catalog) -> None:
    items, aff, nb, pop = recs_inputs(catalog)
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
