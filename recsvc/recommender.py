"""The Recommend use case: generation -> cache-aside -> store -> fallback lists; and Info."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TypeVar

from recsvc import ranking
from recsvc.cache import codec
from recsvc.cache.aside import CacheAside
from recsvc.errors import StoreUnavailable, Unavailable
from recsvc.generation import GenerationTracker
from recsvc.models import (
    ItemFacts,
    Manifest,
    Neighbours,
    PopularList,
    Profile,
    Recommendation,
    RecommendQuery,
    ScoredItem,
    Source,
)
from recsvc.store.base import ProfileStore

__all__ = ["Recommender"]

log = logging.getLogger(__name__)

T = TypeVar("T")
Fetch = Callable[[list[str]], Awaitable[Mapping[str, T]]]

# Kept back from the caller's deadline for the fallback path and the reply itself.
DEADLINE_RESERVE_S = 0.01


class Recommender:
    """Answers Recommend and Info. Never raises for a store outage while it holds popular
    lists: it answers from them (Source.FALLBACK) and says so."""

    def __init__(
        self,
        store: ProfileStore,
        aside: CacheAside,
        tracker: GenerationTracker,
        *,
        store_timeout_s: float,
    ) -> None:
        self._store = store
        self._aside = aside
        self._tracker = tracker
        self._store_timeout_s = store_timeout_s
        # The last popular lists fetched (category -> list) and their generation: what we
        # serve when the store is gone. Refreshed on every generation change.
        self._fallback: dict[str, PopularList] = {}
        self._fallback_generation = ""
        self._loading: tuple[str, asyncio.Task[None]] | None = None
        self.counters: Counter[str] = Counter()
        tracker.on_change(self._ensure_fallback_lists)

    # -- use cases ----------------------------------------------------------------------

    async def recommend(self, query: RecommendQuery, budget_s: float | None) -> Recommendation:
        """``budget_s``: the caller's remaining deadline (None: no deadline). The store
        work gets ``min(budget_s - reserve, store_timeout_s)``; past it, fallback."""
        timeout = self._store_timeout_s
        if budget_s is not None:
            timeout = min(timeout, budget_s - DEADLINE_RESERVE_S)
        if timeout > 0:
            try:
                async with asyncio.timeout(timeout):
                    return await self._personal(query)
            except TimeoutError:
                self.counters["store_timeouts"] += 1
            except StoreUnavailable:
                self.counters["store_errors"] += 1
        return self._from_fallback(query)

    async def info(self, budget_s: float | None) -> Manifest:
        """The served generation's manifest. Raises Unavailable when none is known."""
        timeout = self._store_timeout_s
        if budget_s is not None:
            timeout = min(timeout, budget_s)
        pointer, manifest = await self._tracker.served(timeout)
        return manifest or Manifest(generation=pointer[0], published_at=pointer[1])

    async def warm(self) -> None:
        """Read the pointer and the popular lists now (start-up), so fallback answers
        exist before the first request. Raises StoreUnavailable."""
        pointer = await self._tracker.refresh()
        if pointer is not None:
            await self._ensure_fallback_lists(pointer[0])

    # -- the personal path --------------------------------------------------------------

    async def _personal(self, q: RecommendQuery) -> Recommendation:
        pointer = await self._tracker.current()
        if pointer is None:
            raise Unavailable("no generation has been published yet")
        gen = pointer[0]
        context = (q.viewed_product_id, *q.cart_product_ids)
        context_ids = list(dict.fromkeys(p for p in context if p))
        category = q.category
        # Popular lists never change within a generation: once in memory, no cache trip.
        held = self._fallback.get(category) if self._fallback_generation == gen else None
        profiles, neighbours, popular = await asyncio.gather(
            self._aside.get_many(codec.PROFILE, gen, [q.user_id], self._profiles(gen)),
            self._optional(codec.NEIGHBOURS, gen, context_ids, self._neighbours(gen)),
            _const({category: held})
            if held is not None
            else self._optional(codec.POPULAR, gen, [category], self._popular(gen)),
        )
        found = profiles[q.user_id]
        fill = self._popular_list(gen, category, popular.get(category))
        profile: Profile | None = found.value
        if profile is None:
            candidates: list[ScoredItem] = []
            banned = ranking.banned_ids(q)
        else:
            viewed = neighbours.get(q.viewed_product_id)
            cart = [n for p in q.cart_product_ids if (n := neighbours.get(p)) is not None]
            candidates = ranking.rerank(profile.recommendations, viewed, cart)
            banned = ranking.banned_ids(q, profile.purchased)
        window = ranking.facts_window(candidates, fill, banned)
        facts = await self._optional(codec.FACTS, gen, window, self._facts(gen))
        items = ranking.finalize(
            candidates,
            fill,
            k=q.k,
            banned=banned,
            facts=facts,
            category=category,
            fill_in_category=bool(category),
        )
        if profile is None:
            source = Source.FALLBACK
        else:
            source = Source.CACHE if found.cached else Source.STORE
        self.counters[source.value] += 1
        return Recommendation(items, source, gen)

    async def _optional(
        self, kind: codec.Kind[T], gen: str, ids: Sequence[str], fetch: Fetch[T]
    ) -> dict[str, T]:
        """Context neighbours, facts and popular lists only refine an answer: if the store
        fails for them, answer without them (the profile read decides the fallback)."""
        try:
            fetched = await self._aside.get_many(kind, gen, ids, fetch)
        except StoreUnavailable:
            self.counters[f"degraded_{kind.name}"] += 1
            return {}
        return {i: f.value for i, f in fetched.items() if f.value is not None}

    # -- store reads (what cache-aside calls on a miss) -------------------------------------

    def _profiles(self, gen: str) -> Fetch[Profile]:
        return lambda ids: self._store.get_profiles(gen, ids)

    def _neighbours(self, gen: str) -> Fetch[Neighbours]:
        return lambda ids: self._store.get_neighbours(gen, ids)

    def _popular(self, gen: str) -> Fetch[PopularList]:
        return lambda categories: self._store.get_popular(gen, categories)

    def _facts(self, gen: str) -> Fetch[ItemFacts]:
        async def fetch(ids: list[str]) -> Mapping[str, ItemFacts]:
            found = await self._store.get_neighbours(gen, ids)
            return {p: ItemFacts(n.category, n.in_stock) for p, n in found.items()}

        return fetch

    # -- fallback lists -------------------------------------------------------------------

    def _popular_list(
        self, gen: str, category: str, fetched: PopularList | None
    ) -> Sequence[ScoredItem]:
        if fetched is not None:
            if self._fallback_generation in ("", gen):
                self._fallback[category] = fetched
                self._fallback_generation = gen
            return fetched.items
        remembered = self._fallback.get(category)
        return remembered.items if remembered else ()

    async def _ensure_fallback_lists(self, gen: str) -> None:
        """Load ``gen``'s lists once, however many callers ask (start-up and the
        generation-change listener both do)."""
        if self._loading is None or self._loading[0] != gen:
            self._loading = (gen, asyncio.create_task(self._load_fallback_lists(gen)))
        await asyncio.shield(self._loading[1])

    async def _load_fallback_lists(self, gen: str) -> None:
        """Fetch every popular list of ``gen`` (overall and per category) into memory."""
        try:
            manifest = await self._tracker.manifest(gen)
            categories = ["", *(manifest.categories if manifest else ())]
            fetched = await self._aside.get_many(codec.POPULAR, gen, categories, self._popular(gen))
        except StoreUnavailable as exc:
            log.warning("could not load the popular lists of %s: %s", gen, exc)
            return
        lists = {c: f.value for c, f in fetched.items() if f.value is not None}
        if lists:
            self._fallback, self._fallback_generation = lists, gen
            log.info("fallback lists of %s loaded: %d categories", gen, len(lists) - 1)

    def _from_fallback(self, q: RecommendQuery) -> Recommendation:
        if not self._fallback:
            raise Unavailable(
                "the profile store is unavailable and no fallback lists are loaded yet"
            )
        remembered = self._fallback.get(q.category)
        items = ranking.finalize(
            (),
            remembered.items if remembered else (),
            k=q.k,
            banned=ranking.banned_ids(q),
            category=q.category,
            fill_in_category=True,
        )
        self.counters["fallback"] += 1
        return Recommendation(items, Source.FALLBACK, self._fallback_generation)


async def _const(value: T) -> T:
    return value
