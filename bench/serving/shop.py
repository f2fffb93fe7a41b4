"""The shop-like generation: >= 100,000 users, ~20,000 products in ~40 categories, skewed.

Product popularity follows a Zipf law (rank r weighs 1/r**ZIPF_S, ranks shuffled over the
ids); every profile holds 50 recommendations with reasons (~2 KB encoded), 60% of them
from the user's three affinity categories; every product has 20 neighbours (three in four
in its own category); popular lists overall and per category. Built lazily (streams), so
publish() writes it without holding 100k profiles in memory.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

ZIPF_S = 1.0  # the skew of users' activity and of products' popularity
CATEGORY_COUNT = 40
RECOMMENDATIONS = 50
NEIGHBOURS = 20
POPULAR_OVERALL = 100
POPULAR_PER_CATEGORY = 50
OUT_OF_STOCK_EVERY = 17  # one product in 17 is out of stock


def zipf_cum_weights(n: int, s: float = ZIPF_S) -> list[float]:
    """Cumulative weights of ranks 0..n-1 (rank r weighs 1/(r+1)**s), for random.choices."""
    return list(itertools.accumulate(1.0 / (r + 1) ** s for r in range(n)))


@dataclass(frozen=True)
class ShopSpec:
    """The shop's size; every id and draw follows from it and the seed."""

    users: int = 100_000
    seed: int = 17

    @property
    def products(self) -> int:
        return max(400, self.users // 5)

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(f"cat{n:02d}" for n in range(CATEGORY_COUNT))

    @staticmethod
    def user_id(n: int) -> str:
        return f"u{n:07d}"

    @staticmethod
    def product_id(n: int) -> str:
        return f"p{n:06d}"


class Catalogue:
    """Products, their categories and popularity ranks, with samplers over them."""

    def __init__(self, spec: ShopSpec) -> None:
        self.spec = spec
        rng = random.Random(spec.seed)
        n = spec.products
        cats = spec.categories
        # Product ids by popularity rank (rank 0 the most popular), shuffled over the ids.
        self.by_rank = [spec.product_id(i) for i in range(n)]
        rng.shuffle(self.by_rank)
        self.category = {p: cats[i % len(cats)] for i, p in enumerate(sorted(self.by_rank))}
        self.in_stock = {p: i % OUT_OF_STOCK_EVERY != 0 for i, p in enumerate(sorted(self.by_rank))}
        self.cum = zipf_cum_weights(n)
        # Per category: its products by popularity and their cumulative weights.
        self.in_category: dict[str, list[str]] = {c: [] for c in cats}
        for p in self.by_rank:
            self.in_category[self.category[p]].append(p)
        self.category_cum = {c: zipf_cum_weights(len(ps)) for c, ps in self.in_category.items()}

    def popular(self, rng: random.Random, k: int = 1) -> list[str]:
        """``k`` products drawn by popularity (with repeats)."""
        return rng.choices(self.by_rank, cum_weights=self.cum, k=k)

    def popular_in(self, rng: random.Random, category: str, k: int = 1) -> list[str]:
        return rng.choices(self.in_category[category], cum_weights=self.category_cum[category],
                           k=k)

    @cached_property
    def category_weights(self) -> dict[str, float]:
        """Each category's share of product popularity."""
        weights = dict.fromkeys(self.spec.categories, 0.0)
        previous = 0.0
        for p, c in zip(self.by_rank, self.cum, strict=True):
            weights[self.category[p]] += c - previous
            previous = c
        return weights


def _distinct(draw: Iterator[str], k: int) -> list[str]:
    out: dict[str, None] = {}
    for p in draw:
        out.setdefault(p, None)
        if len(out) == k:
            break
    return list(out)


def _scored(ids: Sequence[str], reasons: Sequence[str]) -> tuple[Any, ...]:
    from generation import ScoredItem

    return tuple(ScoredItem(p, round(1.0 - j / 80, 4), r)
                 for j, (p, r) in enumerate(zip(ids, reasons, strict=True)))


def profile(cat: Catalogue, n: int) -> Any:
    """User ``n``'s profile (the same for the same spec and n)."""
    from generation import Profile

    rng = random.Random(cat.spec.seed * 1_000_003 + n)
    favourites = rng.sample(cat.spec.categories, 3)

    def draws() -> Iterator[str]:
        while True:
            if rng.random() < 0.6:
                yield cat.popular_in(rng, rng.choice(favourites))[0]
            else:
                yield cat.popular(rng)[0]

    recs = _distinct(draws(), RECOMMENDATIONS)
    anchors = cat.popular(rng, 4)
    reasons = [rng.choice(("bought together with ", "because you viewed ", "similar to "))
               + rng.choice(anchors) if j % 5 else f"popular in {cat.category[p]}"
               for j, p in enumerate(recs)]
    return Profile(
        user_id=cat.spec.user_id(n),
        recommendations=_scored(recs, reasons),
        purchased=tuple(cat.popular(rng, 5)),
        recent=tuple(cat.popular(rng, 5)),
        category_affinity={c: round(0.5 / (j + 1), 3) for j, c in enumerate(favourites)},
        rfm={"recency_days": float(rng.randrange(1, 200)), "frequency": float(rng.randrange(1, 30)),
             "monetary": round(rng.uniform(10, 2000), 2), "r": 3.0, "f": 2.0, "m": 4.0},
    )


def neighbours(cat: Catalogue, p: str) -> Any:
    from generation import Neighbours

    rng = random.Random(f"{cat.spec.seed}:{p}")
    own = cat.category[p]
    draws = (cat.popular_in(rng, own)[0] if rng.random() < 0.75 else cat.popular(rng)[0]
             for _ in itertools.count())
    ids = _distinct((q for q in draws if q != p), NEIGHBOURS)
    reasons = [f"bought together with {p}" if j % 2 else f"similar to {p}"
               for j in range(len(ids))]
    return Neighbours(p, own, cat.in_stock[p], _scored(ids, reasons))


def popular_lists(cat: Catalogue) -> list[Any]:
    from generation import PopularList

    overall = cat.by_rank[:POPULAR_OVERALL]
    lists = [PopularList("", _scored(overall, ["popular"] * len(overall)))]
    for c, ps in cat.in_category.items():
        top = ps[:POPULAR_PER_CATEGORY]
        lists.append(PopularList(c, _scored(top, [f"popular in {c}"] * len(top))))
    return lists


def shop_data(spec: ShopSpec) -> Any:
    """The generation as publish() takes it: profiles and neighbours as streams."""
    from generation import GenerationData, Manifest
    from profile_engine.publish import new_generation_id

    cat = Catalogue(spec)
    manifest = Manifest(
        generation=new_generation_id(),
        published_at=datetime.now(UTC).isoformat(timespec="seconds"),
        counts={"users": spec.users, "items": spec.products},
        categories=spec.categories,
    )
    return GenerationData(
        manifest,
        (profile(cat, n) for n in range(spec.users)),
        (neighbours(cat, p) for p in sorted(cat.by_rank)),
        popular_lists(cat),
        [],
    )
