"""What a shopper's recent events say for ranking: which products' neighbours to boost and
how much (newer counts more), and what must not come back (bought, in the cart)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from generation import Neighbours
from recsvc.ranking import Boost
from recsvc.sessions import Recent

__all__ = ["MAX_PRODUCTS", "SessionSignals", "boosts", "signals"]

# How strongly the newest event of each type points at what the shopper wants next, on
# the scale of their best batch recommendation (1.0): above it, so what they do now
# outranks what they did months ago. A purchase is done: it points at complements only.
TYPE_WEIGHTS = {"add_to_cart": 1.2, "view": 1.2, "click": 1.2, "purchase": 0.6}
# Each older distinct product counts this much less than the next newer one.
RECENCY_DECAY = 0.7
# Neighbour lists fetched per call for the session: the newest products only.
MAX_PRODUCTS = 8
# The session's weights together never exceed this: a few views move part of a known
# shopper's list, not all of it (a neighbour of every viewed product still rises most).
SESSION_BUDGET = 1.2

_REASONS = {
    "add_to_cart": "goes with {} in your cart",
    "view": "because you viewed {}",
    "click": "because you viewed {}",
    "purchase": "goes with {} you bought",
}


@dataclass(frozen=True, slots=True)
class SessionSignals:
    # (product, weight, reason), strongest first, at most MAX_PRODUCTS.
    products: tuple[tuple[str, float, str], ...] = ()
    bought: frozenset[str] = frozenset()
    in_cart: frozenset[str] = frozenset()
    # Viewed or clicked in the session: the shopper has just seen them; not recommended.
    seen: frozenset[str] = frozenset()


def signals(recent: Sequence[Recent]) -> SessionSignals:
    """``recent`` is newest first."""
    if not recent:
        return SessionSignals()
    bought: set[str] = set()
    in_cart: set[str] = set()
    for r in reversed(recent):  # oldest first: the cart as it stands now
        if r.event_type == "add_to_cart":
            in_cart.add(r.product_id)
        elif r.event_type in ("remove_from_cart", "purchase"):
            in_cart.discard(r.product_id)
            if r.event_type == "purchase":
                bought.add(r.product_id)
    best: dict[str, tuple[float, str]] = {}
    rank = 0
    for r in recent:
        weight = TYPE_WEIGHTS.get(r.event_type)
        if weight is None:
            continue
        if r.product_id not in best:
            if len(best) >= MAX_PRODUCTS:
                break
            rank = len(best)
        else:
            rank = list(best).index(r.product_id)
        w = weight * RECENCY_DECAY ** rank
        if w > best.get(r.product_id, (0.0, ""))[0]:
            best[r.product_id] = (w, _REASONS[r.event_type].format(r.product_id))
    total = sum(w for w, _ in best.values())
    scale = SESSION_BUDGET / total if total > SESSION_BUDGET else 1.0
    products = sorted(((p, w * scale, why) for p, (w, why) in best.items()), key=lambda x: -x[1])
    seen = frozenset(r.product_id for r in recent if r.event_type in ("view", "click"))
    return SessionSignals(tuple(products), frozenset(bought), frozenset(in_cart), seen)


def boosts(found: SessionSignals, neighbours: Mapping[str, Neighbours]) -> list[Boost]:
    """The boosts of the session's products whose neighbours are known."""
    return [Boost(n, w, why) for p, w, why in found.products if (n := neighbours.get(p))]
