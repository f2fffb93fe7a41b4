"""The search space: a first round of both families at their defaults, then one round per
setting of the leading family (coordinate descent), each value tried against the best so far.

Coordinate descent rather than a grid: the settings interact little (Online Retail: the
best value of each moved the others' best by at most one step), a round's trials run in
parallel, and the search can stop after any round with the best so far.
"""

from __future__ import annotations

from dataclasses import replace

from profile_engine.compute.ranker import RankerParams

INF = float("inf")
# (field, values) in the order they are tuned: the ones that move NDCG most come first, so a
# short budget spends itself where it pays.
COMMON: tuple[tuple[str, tuple[float, ...]], ...] = (
    ("popularity_weight", (0.0, 0.05, 0.1, 0.2, 0.4)),
    ("category_weight", (0.1, 0.3, 1.0, 3.0)),
    ("gram_half_life_days", (30.0, 60.0, 120.0, 365.0, INF)),
    ("query_half_life_days", (7.0, 30.0, 60.0, 180.0, INF)),
    ("view_weight", (0.05, 0.1, 0.2, 0.5, 1.0)),
    ("cart_weight", (0.2, 0.4, 0.6, 1.0)),
    ("popularity_half_life_days", (7.0, 14.0, 30.0)),
)
EASE: tuple[tuple[str, tuple[float, ...]], ...] = (
    ("lam", (50.0, 150.0, 400.0, 1000.0)),
    ("max_items", (2_000, 4_000, 6_000)),
)
KNN: tuple[tuple[str, tuple[float, ...]], ...] = (
    ("knn_neighbours", (10, 20, 50, 100)),
    ("knn_shrink", (0.0, 10.0, 50.0, 200.0)),
)
# EASE inverts a dense modelled-items^2 matrix: above this many items with interactions it
# would leave part of the catalogue out (or need more memory than a worker has), so only
# the sparse family is tried.
MAX_DENSE_ITEMS = 6_000


def first_round(defaults: RankerParams, n_items: int) -> list[RankerParams]:
    """Each family that can model every item with an interaction, at the defaults."""
    knn = replace(defaults, family="knn")
    if n_items > MAX_DENSE_ITEMS:
        return [knn]
    ease = replace(defaults, family="ease", max_items=max(defaults.max_items, n_items))
    return [ease, knn] if defaults.family == "ease" else [knn, ease]


def settings_of(
    family: str, n_items: int, has_views: bool, has_carts: bool, has_categories: bool = True
) -> list[tuple[str, tuple[float, ...]]]:
    """The settings tuned for ``family`` on this data: event weights only for the event
    types it has, the category prior only when its items have more than one category."""
    own = EASE if family == "ease" else KNN
    out: list[tuple[str, tuple[float, ...]]] = []
    for name, values in (own[0], *COMMON, *own[1:]):
        if (name == "view_weight" and not has_views) or (name == "cart_weight" and not has_carts):
            continue
        if name == "category_weight" and not has_categories:
            continue
        if name == "max_items":
            # Fewer than all: the tail left to the fill-up lists, when that scores better.
            values = tuple(v for v in values if v < n_items)
            if not values:
                continue
        out.append((name, values))
    return out


def variants(best: RankerParams, name: str, values: tuple[float, ...]) -> list[RankerParams]:
    """``best`` with ``name`` set to each of ``values`` it does not already have."""
    current = getattr(best, name)
    kind = type(current)
    return [replace(best, **{name: kind(v)}) for v in values if kind(v) != current]
