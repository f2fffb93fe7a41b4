"""Pure ranking rules: re-rank, exclusions, stock, category, top-k, popular fill."""

from __future__ import annotations

from generation import Neighbours, ProductFacts, ScoredItem
from recsvc import ranking
from recsvc.models import RecommendQuery


def items(*pairs: tuple[str, float]) -> tuple[ScoredItem, ...]:
    return tuple(ScoredItem(p, s, "r") for p, s in pairs)


def reranked(*args: object, **kwargs: object) -> list[ScoredItem]:
    """rerank()'s candidates as finalize answers them (ScoredItems, scores rounded)."""
    return [ScoredItem(p, round(s, 6), r)
            for p, s, r in ranking.rerank(*args, **kwargs)]  # type: ignore[arg-type]


def ids(result: object) -> list[str]:
    return [i.product_id for i in result]  # type: ignore[attr-defined]


RECS = items(("A", 10), ("B", 9), ("C", 8), ("D", 1))


def test_rerank_without_context_keeps_order_and_normalises() -> None:
    out = reranked(RECS)
    assert ids(out) == ["A", "B", "C", "D"]
    assert out[0].score == 1.0 and out[-1].score == 0.1


def test_viewed_neighbours_lift_items_and_join_as_candidates() -> None:
    viewed = Neighbours("V", items=items(("D", 5), ("X", 4)))
    out = reranked(RECS, viewed)
    # D: 0.1 + 0.6 * 1.0 = 0.7; X (new): 0.6 * 0.8 = 0.48; C stays at 0.8.
    assert ids(out) == ["A", "B", "C", "D", "X"]
    assert {i.product_id: i.score for i in out}["D"] == 0.7
    assert out[3].reason == "because you viewed V"
    viewed_strong = Neighbours("V", items=items(("D", 5)))
    cart = [Neighbours("K", items=items(("D", 1)))]
    out = reranked(RECS, viewed_strong, cart)
    assert {i.product_id: i.score for i in out}["D"] == 1.0  # 0.1 + 0.6 + 0.3
    assert ids(out)[:2] == ["A", "D"]  # ties keep the batch order


def test_cart_boost_names_the_cart_product() -> None:
    out = reranked((), cart=[Neighbours("K", items=items(("Y", 2)))])
    assert out == [ScoredItem("Y", 0.3, "goes with K in your cart")]


def test_banned_ids_cover_every_exclusion() -> None:
    q = RecommendQuery(
        "u", viewed_product_id="V", cart_product_ids=("K",), exclude_product_ids=("E",)
    )
    assert ranking.banned_ids(q, purchased=("P",)) == {"V", "K", "E", "P"}
    assert ranking.banned_ids(RecommendQuery("u")) == set()


def test_finalize_applies_bans_stock_and_k() -> None:
    facts = {"B": ProductFacts("x", in_stock=False)}
    out = ranking.finalize(ranking.rerank(RECS), (), k=2, banned={"A"}, facts=facts)
    assert ids(out) == ["C", "D"]


def test_finalize_fills_from_popular_below_the_ranked_items_without_repeats() -> None:
    popular = items(("C", 100), ("P1", 90), ("A", 80), ("P2", 50))
    out = ranking.finalize(ranking.rerank(RECS[:2]), popular, k=4, banned={"A"})
    assert ids(out) == ["B", "C", "P1", "P2"]
    scores = [i.score for i in out]
    assert scores == sorted(scores, reverse=True)
    assert out[2].reason == "r"  # the popular list's own reason is kept


def test_category_filter_needs_facts_for_ranked_items() -> None:
    facts = {"A": ProductFacts("shoes", True), "B": ProductFacts("hats", True)}
    popular_shoes = items(("S1", 5), ("S2", 4))
    out = ranking.finalize(
        ranking.rerank(RECS), popular_shoes, k=3, facts=facts, category="shoes",
        fill_in_category=True,
    )
    # A qualifies by its facts; B is a hat; C and D have no facts (not provably shoes).
    assert ids(out) == ["A", "S1", "S2"]
    unknown_fill = ranking.finalize((), popular_shoes, k=3, category="shoes")
    assert unknown_fill == ()


def test_fill_respects_stock_and_category_facts_too() -> None:
    facts = {"S1": ProductFacts("shoes", False), "S2": ProductFacts("hats", True)}
    out = ranking.finalize((), items(("S1", 5), ("S2", 4), ("S3", 3)), k=5, facts=facts,
                           category="shoes", fill_in_category=True)
    assert ids(out) == ["S3"]


def test_facts_window_prefers_allowed_candidates_then_fill() -> None:
    window = ranking.facts_window(RECS, items(("P", 1), ("A", 1)), banned={"B"}, limit=4)
    assert window == ["A", "C", "D", "P"]
    assert ranking.facts_window(RECS, (), banned=set(), limit=2) == ["A", "B"]


def test_k_zero_and_empty_inputs() -> None:
    assert ranking.finalize(RECS, RECS, k=0) == ()
    assert ranking.finalize((), (), k=5) == ()
    assert reranked(items(("Z", 0))) == [ScoredItem("Z", 0.0, "r")]


def test_a_lone_batch_list_rescaled_in_finalize_is_what_rerank_gives() -> None:
    recs = tuple(ScoredItem(f"P{n}", 2.0 - n / 10, f"why {n}") for n in range(12))
    fill = (ScoredItem("F1", 5.0), ScoredItem("P3", 4.0), ScoredItem("F2", 3.0))
    for k in (3, 10, 14):
        reranked = ranking.finalize(ranking.rerank(recs), fill, k=k, banned={"P1"})
        direct = ranking.finalize(recs, fill, k=k, banned={"P1"},
                                  scale=ranking.scale_of(recs))
        assert direct == reranked
