"""Pure ranking functions: context re-rank, exclusions, stock, category, top-k, popular fill."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Protocol

from generation import Neighbours, ProductFacts, ScoredItem, rows
from recsvc.models import RecommendQuery

__all__ = [
    "CART_WEIGHT",
    "Ranked",
    "Boost",
    "Facts",
    "FACTS_WINDOW",
    "VIEWED_WEIGHT",
    "banned_ids",
    "facts_window",
    "finalize",
    "rerank",
]

# A context neighbour's boost, relative to the user's own best recommendation (1.0).
# The product on screen says more about intent right now than the cart does.
VIEWED_WEIGHT = 0.6
CART_WEIGHT = 0.3
# Candidates whose category and stock are looked up per request: one BatchGetItem.
FACTS_WINDOW = 100
_second = itemgetter(1)
# A candidate: (product id, score, reason), a ScoredItem or a plain tuple of its shape.
Ranked = tuple[str, float, str]
# Fill items score below the weakest ranked item, so the order is kept within a response.
FILL_SCALE = 0.5


def _normalised(items: Sequence[ScoredItem]) -> list[tuple[str, str, float]]:
    """(id, reason, score / the best score) per item, so lists on different scales mix."""
    listed = list(rows(items))
    top = max((s for _, s, _ in listed), default=0.0)
    if top <= 0:
        return [(p, r, 0.0) for p, _, r in listed]
    return [(p, r, max(s, 0.0) / top) for p, s, r in listed]


class Facts(Protocol):
    """Category and stock by product id: a dict of looked-up facts, or the in-process
    catalogue (recsvc.catalogue)."""

    def get(self, product_id: str, default: None = None, /) -> ProductFacts | None:
        ...


@dataclass(frozen=True, slots=True)
class Boost:
    """A product whose neighbours are boosted by ``weight`` (on the scale of the best batch
    recommendation), naming it in ``reason``."""

    neighbours: Neighbours
    weight: float
    reason: str


def rerank(
    recommendations: Sequence[ScoredItem],
    viewed: Neighbours | None = None,
    cart: Sequence[Neighbours] = (),
    boosts: Sequence[Boost] = (),
    base_weight: float = 1.0,
) -> list[Ranked]:
    """The user's batch recommendations, boosted by the neighbours of the product being
    viewed, of the cart products and of ``boosts`` (the shopper's recent events);
    neighbours the batch list lacks join as candidates.

    Score = recommendation score / best recommendation score + sum of weighted, likewise
    normalised neighbour scores. Ties keep the batch order. The reason of a boosted item
    names the context product that boosted it most."""
    scores: dict[str, float] = {}
    reasons: dict[str, str] = {}
    # One pass per list over plain floats: this runs on most calls.
    batch = list(rows(recommendations))
    top = max((s for _, s, _ in batch), default=0.0)
    scale = base_weight / top if top > 0 else 0.0
    for pid, s, reason in batch:
        if pid not in scores:
            scores[pid] = s * scale if s > 0 else 0.0
            reasons[pid] = reason
    context: list[tuple[Neighbours, float, str]] = []
    if viewed is not None:
        context.append((viewed, VIEWED_WEIGHT, f"because you viewed {viewed.product_id}"))
    context.extend((n, CART_WEIGHT, f"goes with {n.product_id} in your cart") for n in cart)
    context.extend((b.neighbours, b.weight, b.reason) for b in boosts)
    best_boost: dict[str, float] = {}
    for neighbours, weight, reason in context:
        items = list(rows(neighbours.items))
        top = max((s for _, s, _ in items), default=0.0)
        scale = weight / top if top > 0 else 0.0
        for pid, s, _ in items:
            boost = s * scale if s > 0 else 0.0
            scores[pid] = scores.get(pid, 0.0) + boost
            if boost > best_boost.get(pid, 0.0):
                best_boost[pid] = boost
                reasons[pid] = reason
    # sorted() is stable with reverse=True too: ties keep the batch order. Plain tuples
    # (ScoredItem's shape): finalize builds ScoredItems only for the k it answers with.
    ranked = sorted(scores.items(), key=_second, reverse=True)
    return [(pid, score, reasons[pid]) for pid, score in ranked]


def scale_of(recommendations: Sequence[ScoredItem]) -> float:
    """What rerank() would multiply a lone batch list's scores by (1 / the best score), so
    finalize() can rescale only the items it answers with. Lists are best first."""
    top = next(iter(rows(recommendations)))[1] if recommendations else 0.0
    return 1.0 / top if top > 0 else 0.0


def banned_ids(query: RecommendQuery, purchased: Iterable[str] = ()) -> frozenset[str]:
    """What must never be recommended for this request: excluded ids, cart products,
    the product being viewed, and what the user already bought."""
    banned = {*query.exclude_product_ids, *query.cart_product_ids, *purchased}
    if query.viewed_product_id:
        banned.add(query.viewed_product_id)
    return frozenset(banned)


def facts_window(
    candidates: Sequence[Ranked],
    fill: Sequence[ScoredItem],
    banned: Collection[str],
    limit: int = FACTS_WINDOW,
) -> list[str]:
    """The ids whose category/stock are worth looking up: the best allowed candidates
    first, then the fill list, deduplicated, at most ``limit``."""
    wanted: dict[str, None] = {}
    for pid, _, _ in (*rows(candidates), *rows(fill)):  # type: ignore[arg-type]
        if len(wanted) >= limit:
            break
        if pid not in banned:
            wanted[pid] = None
    return list(wanted)


def finalize(
    candidates: Sequence[Ranked],
    fill: Sequence[ScoredItem],
    *,
    k: int,
    banned: Collection[str] = frozenset(),
    facts: Facts | None = None,
    category: str = "",
    fill_in_category: bool = False,
    scale: float = 1.0,
) -> tuple[ScoredItem, ...]:
    """Top ``k`` of ``candidates`` that pass the rules, topped up from ``fill`` (popular).

    Rules: nothing banned, nothing known to be out of stock (``facts``), nothing twice.
    With ``category``, an item qualifies only if its facts say so; fill items also
    qualify without facts when ``fill_in_category`` (the fill list *is* that category's
    popular list). Fill scores are rescaled below the last ranked score. ``scale``
    multiplies the scores of the candidates answered with (see scale_of)."""
    get = (facts if facts is not None else {}).get
    out: list[ScoredItem] = []
    seen: set[str] = set()
    # The rules inline (no helper call per item): a category filter walks every candidate.
    for pid, score, reason in rows(candidates):  # type: ignore[arg-type]
        if len(out) >= k:
            return tuple(out)
        if pid in banned or pid in seen:
            continue
        f = get(pid)
        if f is None:
            if category:
                continue
        elif not f.in_stock or (category and f.category != category):
            continue
        out.append(ScoredItem(pid, round(max(score, 0.0) * scale, 6), reason))
        seen.add(pid)
    floor = out[-1].score if out and out[-1].score > 0 else 1.0
    if out:
        floor *= FILL_SCALE
    for pid, reason, s in _normalised(fill):
        if len(out) >= k:
            break
        if pid in banned or pid in seen:
            continue
        f = get(pid)
        if f is None:
            if category and not fill_in_category:
                continue
        elif not f.in_stock or (category and f.category != category):
            continue
        out.append(ScoredItem(pid, round(floor * s, 6), reason or "popular"))
        seen.add(pid)
    return tuple(out)
