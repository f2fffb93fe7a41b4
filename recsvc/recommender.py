"""The Recommend use case: generation -> cache-aside -> store -> fallback lists; and Info."""

from __future__ import annotations

import asyncio
import logging
import os
from collections import Counter
from collections.abc import Sequence
from typing import Any, TypeVar

from generation import Manifest, Neighbours, PopularList, Profile, ScoredItem
from recsvc import ranking, session_ranking
from recsvc.cache import codec
from recsvc.cache.aside import CacheAside, Fetch, Fetched, Want
from recsvc.catalogue import InProcessCatalogue
from recsvc.errors import StoreUnavailable, Unavailable
from recsvc.held import HeldLists
from recsvc.models import Recommendation, RecommendQuery, Source
from recsvc.ranking import Boost
from recsvc.sessions import SessionMemory, Shopper, decode_recent
from recsvc.sessions.visibility import Visibility
from recsvc.store.base import ProfileStore
from recsvc.tracker import GenerationTracker

__all__ = ["Recommender", "new_recommendation_id"]

log = logging.getLogger(__name__)

T = TypeVar("T")

# Kept back from the caller's deadline for the fallback path and the reply itself: this
# share of the budget, within [min, max]. Under load the event loop runs late by several
# milliseconds when many calls time out together; a fixed 10 ms was measured too thin.
DEADLINE_RESERVE_SHARE = 0.1
DEADLINE_RESERVE_S = 0.01
DEADLINE_RESERVE_MAX_S = 0.05
# The first facts window is 2k + this: enough for a few out-of-stock candidates.
SHORT_WINDOW_EXTRA = 8
# SimilarItems: the weight of the shopper's own lists beside the given products' neighbours.
SIMILAR_PERSONAL = 0.3


def new_recommendation_id() -> str:
    """A fresh id for one answer (64 random bits: unique enough to join impressions)."""
    return os.urandom(8).hex()


class Recommender:
    """Answers Recommend and Info. Never raises for a store outage while it holds popular
    lists: it answers from them (Source.FALLBACK) and says so."""

    def __init__(
        self,
        store: ProfileStore,
        aside: CacheAside,
        tracker: GenerationTracker,
        sessions: SessionMemory,
        *,
        store_timeout_s: float,
    ) -> None:
        self._store = store
        self._sessions = sessions
        self._aside = aside
        self._tracker = tracker
        self._store_timeout_s = store_timeout_s
        # The last popular lists fetched (category -> list) and their generation: what we
        # serve when the store is gone. Refreshed on every generation change.
        self._held = HeldLists(store, aside, tracker)
        self.counters: Counter[str] = Counter()
        self.visibility = Visibility()
        tracker.on_change(self._held.ensure)

    # -- use cases ----------------------------------------------------------------------

    async def recommend(self, query: RecommendQuery, budget_s: float | None) -> Recommendation:
        """``budget_s``: the caller's remaining deadline (None: no deadline). The store
        work gets ``min(budget_s - reserve, store_timeout_s)``; past it, fallback."""
        timeout = self._store_timeout_s
        if budget_s is not None:
            reserve = min(DEADLINE_RESERVE_MAX_S,
                          max(DEADLINE_RESERVE_S, budget_s * DEADLINE_RESERVE_SHARE))
            timeout = min(timeout, budget_s - reserve)
        if timeout > 0:
            try:
                async with asyncio.timeout(timeout):
                    return await self._personal(query)
            except TimeoutError:
                self.counters["store_timeouts"] += 1
            except StoreUnavailable:
                self.counters["store_errors"] += 1
        return self._from_fallback(query)

    @property
    def catalogue(self) -> InProcessCatalogue | None:
        """Every product's category and stock, if loaded (recsvc.held)."""
        return self._held.catalogue

    def generation_now(self) -> str | None:
        """The generation being served, if known, without waiting for the store."""
        pointer = self._tracker.current_nowait()
        return pointer.generation if pointer is not None else None

    async def session_state(self, shopper: Shopper) -> bytes | None:
        """The shopper's stored recent events read now (b"" when none), or None when the
        memory cannot be read (for inspection; answers use known_session)."""
        keys = self._sessions.keys.of(shopper)
        if not keys or self._sessions.name == "none":
            return b""
        raw = await self._aside.read_live(keys)
        return None if raw is None else _state(raw, keys)

    def known_session(self, shopper: Shopper) -> bytes | None:
        """The shopper's stored recent events as this process knows them without a round
        trip (b"" when none), or None when they would have to be read: what an answer
        depends on besides the request."""
        keys = self._sessions.keys.of(shopper)
        if not keys:
            return b""
        known = self._sessions.peek(keys)
        return None if known is None else _state(known, keys)

    def count_remembered(self, source: Source) -> None:
        """An answer given again from the server's memo of finished answers."""
        self.counters[source.value] += 1
        self.counters["remembered"] += 1

    async def info(self, budget_s: float | None) -> Manifest:
        """The served generation's manifest. Raises Unavailable when none is known."""
        timeout = self._store_timeout_s
        if budget_s is not None:
            timeout = min(timeout, budget_s)
        pointer, manifest = await self._tracker.served(timeout)
        return manifest or Manifest(
            generation=pointer.generation,
            published_at=pointer.published_at,
            format_version=pointer.format_version,
        )

    async def warm(self) -> None:
        """Read the pointer and the popular lists now (start-up), so fallback answers
        exist before the first request. Raises StoreUnavailable."""
        pointer = await self._tracker.refresh()
        if pointer is not None:
            await self._held.ensure(pointer.generation)

    # -- the personal path --------------------------------------------------------------

    async def _personal(self, q: RecommendQuery) -> Recommendation:
        pointer = await self._tracker.current()
        if pointer is None:
            raise Unavailable("no generation has been published yet")
        gen = pointer.generation
        context = (*q.similar_to, q.viewed_product_id, *q.cart_product_ids)
        context_ids = list(dict.fromkeys(p for p in context if p))
        category = q.category
        # Popular lists never change within a generation: once in memory, no cache trip.
        lists = self._held
        held = lists.popular.get(category) if lists.generation == gen else None
        if lists.loaded_generation != gen:
            lists.load_again(gen)
        degraded: list[str] = []
        sessions = self._sessions
        session_keys = sessions.keys.of(Shopper(q.user_id, q.session_id))
        # The shopper's recent events, when this process knows them already; else they
        # are read in the same round trip as the profile and the context's neighbours.
        raw = sessions.peek(session_keys) if session_keys else {}
        token = None
        if raw is None:
            token = sessions.reading(session_keys)
            self.counters["session_reads"] += 1
        elif session_keys:
            self.counters["session_known"] += 1
        recent = decode_recent(*(raw.get(k) for k in session_keys)) if raw else ()
        session = session_ranking.signals(recent)
        wanted = [*context_ids, *(p for p, _, _ in session.products if p not in context_ids)]
        wants: list[Want[Any]] = [
            Want(codec.PROFILE, [q.user_id] if q.user_id else [], self._profiles(gen)),
            Want(codec.NEIGHBOURS, wanted, self._neighbours(gen)),
        ]
        if held is None:
            wants.append(Want(codec.POPULAR, [category], self._popular(gen)))
        found_all, read = await self._aside.get_together(
            gen, wants, session_keys if raw is None else ())
        if isinstance(found_all[0], StoreUnavailable):
            raise found_all[0]
        profiles = found_all[0]
        neighbours: dict[str, Neighbours] = self._refining(codec.NEIGHBOURS, found_all[1],
                                                           degraded)
        popular: dict[str, PopularList] = (
            self._refining(codec.POPULAR, found_all[2], degraded) if held is None
            else {category: held})
        if raw is None:
            raw = read
            if read is not None:
                sessions.read(token, read, session_keys)
                recent = decode_recent(*(read.get(k) for k in session_keys))
                session = session_ranking.signals(recent)
                more = [p for p, _, _ in session.products if p not in neighbours]
                if more:  # the events were not known before the read: one more trip
                    neighbours = {**neighbours, **await self._optional(
                        codec.NEIGHBOURS, gen, more, self._neighbours(gen), degraded)}
        if recent:
            self.visibility.used(recent)
        boosts = session_ranking.boosts(session, neighbours)
        found = profiles.get(q.user_id) if q.user_id else None
        fill, exact = lists.popular_list(gen, category, popular.get(category))
        profile: Profile | None = found.value if found is not None else None
        batch = profile.recommendations if profile is not None else ()
        viewed = neighbours.get(q.viewed_product_id)
        cart = [n for p in q.cart_product_ids if (n := neighbours.get(p)) is not None]
        candidates: Sequence[ranking.Ranked]
        scale = 1.0
        if q.similar_to:
            # The given products' neighbours lead; the shopper's lists only tip the order.
            lead = [Boost(n, 1.0, f"similar to {p}")
                    for p in q.similar_to if (n := neighbours.get(p)) is not None]
            personal = [Boost(b.neighbours, b.weight * SIMILAR_PERSONAL, b.reason)
                        for b in boosts]
            candidates = ranking.rerank(batch, viewed, cart, [*lead, *personal],
                                        base_weight=SIMILAR_PERSONAL)
        elif profile is not None and viewed is None and not cart and not boosts:
            # The batch list as it is (best first, by the contract): only the k answered
            # get their scores rescaled, in finalize.
            candidates = profile.recommendations
            scale = ranking.scale_of(candidates)
        else:
            candidates = ranking.rerank(batch, viewed, cart, boosts)
        banned = ranking.banned_ids(q, profile.purchased if profile is not None else ())
        banned |= session.bought | session.in_cart | session.seen | set(q.similar_to)
        items = await self._finish(gen, q, candidates, fill, banned, degraded, scale)
        if profile is not None:
            source = Source.CACHE if found is not None and found.cached else Source.STORE
        else:
            source = Source.SESSION if candidates else Source.FALLBACK
        self.counters[source.value] += 1
        unread = raw is None and bool(session_keys)
        return Recommendation(
            items, source, gen, complete=exact and not degraded,
            without_session=unread,
            recommendation_id=new_recommendation_id(),
            session_state=None if unread else _state(raw or {}, session_keys),
        )

    def _refining(self, kind: codec.Kind[T], part: dict[str, Fetched[T]] | StoreUnavailable,
                  degraded: list[str]) -> dict[str, T]:
        """Context neighbours, facts and popular lists only refine an answer: if the store
        failed for them, answer without them (the profile read decides the fallback) and
        note it in ``degraded``."""
        if isinstance(part, StoreUnavailable):
            self.counters[f"degraded_{kind.name}"] += 1
            degraded.append(kind.name)
            return {}
        return {i: f.value for i, f in part.items() if f.value is not None}

    async def _finish(
        self,
        gen: str,
        q: RecommendQuery,
        candidates: Sequence[ranking.Ranked],
        fill: Sequence[ScoredItem],
        banned: frozenset[str],
        degraded: list[str],
        scale: float = 1.0,
    ) -> tuple[ScoredItem, ...]:
        """The top k of candidates and fill under the rules (stock, category, bans).

        Facts (stock, category) of a short window first: finalize walks candidates and
        fill in window order and stops at k, so when its k picks all lie inside the
        short window it never looked past it and the full window would give the same
        answer. Otherwise (category filters, many out of stock) look up the full one."""
        catalogue = self._held.catalogue
        if catalogue is not None and catalogue.generation == gen:
            return ranking.finalize(candidates, fill, k=q.k, banned=banned, facts=catalogue,
                                    category=q.category, fill_in_category=bool(q.category),
                                    scale=scale)
        limit = min(ranking.FACTS_WINDOW, 2 * q.k + SHORT_WINDOW_EXTRA)
        while True:
            window = ranking.facts_window(candidates, fill, banned, limit)
            facts = await self._optional(codec.FACTS, gen, window, self._facts(gen), degraded)
            items = ranking.finalize(
                candidates,
                fill,
                k=q.k,
                banned=banned,
                facts=facts,
                category=q.category,
                fill_in_category=bool(q.category),
                scale=scale,
            )
            if limit >= ranking.FACTS_WINDOW or len(window) < limit:
                return items
            inside = set(window)
            if len(items) == q.k and all(i.product_id in inside for i in items):
                return items
            limit = ranking.FACTS_WINDOW

    async def _optional(
        self,
        kind: codec.Kind[T],
        gen: str,
        ids: Sequence[str],
        fetch: Fetch,
        degraded: list[str],
    ) -> dict[str, T]:
        """A refining lookup of its own, under ``_refining``'s rules."""
        found, _ = await self._aside.get_together(gen, [Want(kind, ids, fetch)], ())
        return self._refining(kind, found[0], degraded)

    # -- store reads (what cache-aside calls on a miss) -------------------------------------

    def _profiles(self, gen: str) -> Fetch:
        return lambda ids: self._store.get_profiles(gen, ids)

    def _neighbours(self, gen: str) -> Fetch:
        return lambda ids: self._store.get_neighbours(gen, ids)

    def _popular(self, gen: str) -> Fetch:
        return lambda categories: self._store.get_popular(gen, categories)

    def _facts(self, gen: str) -> Fetch:
        return lambda ids: self._store.get_facts(gen, ids)

    # -- fallback lists -------------------------------------------------------------------

    def _from_fallback(self, q: RecommendQuery) -> Recommendation:
        held = self._held
        if not held.popular:
            raise Unavailable(
                "the profile store is unavailable and no fallback lists are loaded yet"
            )
        remembered = held.popular.get(q.category)
        items = ranking.finalize(
            (),
            remembered.items if remembered else (),
            k=q.k,
            banned=ranking.banned_ids(q),
            category=q.category,
            fill_in_category=True,
        )
        self.counters["fallback"] += 1
        return Recommendation(items, Source.FALLBACK, held.generation, complete=False,
                              recommendation_id=new_recommendation_id())


def _state(values: dict[str, bytes], keys: Sequence[str]) -> bytes:
    """The stored events of ``keys`` as one byte string (b"" when none)."""
    return b"\x01".join(values.get(k, b"") for k in keys) if values else b""
