"""compute/assemble: profiles, segment members, neighbour and popular lists as models."""

from __future__ import annotations

import numpy as np
import pandas as pd

from profile_engine.compute import assemble, profiles, recommend
from profile_engine.compute.catalog import Catalog
from tests.profile_engine.conftest import AS_OF, A, B, P, V, recs_inputs, rows


def test_assemble_profiles_and_members(catalog: Catalog) -> None:
    items, aff, nb, pop = recs_inputs(catalog)
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
    _, _, nb, pop = recs_inputs(catalog)
    lists = {n.product_id: n for n in assemble.neighbour_lists(nb, catalog)}
    assert lists["F"].in_stock is False and [i.product_id for i in lists["F"].items] == ["B"]
    assert lists["A"].category == "books"
    popular_lists = assemble.popular_lists(pop, catalog)
    assert popular_lists[0].category == "" and popular_lists[0].items[0].reason == "popular now"
    assert {p.category for p in popular_lists[1:]} == {"books", "garden"}
