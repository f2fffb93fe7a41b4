"""What the service holds in memory per generation: the popular lists (what it answers from
when the store is gone, and every call's fill) and the catalogue's facts."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from generation import PopularList, ScoredItem, layout
from recsvc.cache import codec
from recsvc.cache.aside import CacheAside
from recsvc.catalogue import InProcessCatalogue
from recsvc.errors import StoreUnavailable
from recsvc.store.base import ProfileStore
from recsvc.tracker import GenerationTracker

__all__ = ["HeldLists", "LOAD_RETRY_S"]

log = logging.getLogger(__name__)

# A failed load of a generation's popular lists and catalogue is tried again this often.
LOAD_RETRY_S = 5.0


class HeldLists:
    """Loaded once per generation (start-up and every generation change), however many
    callers ask; a load the store failed is tried again from the calls (load_again)."""

    def __init__(self, store: ProfileStore, aside: CacheAside,
                 tracker: GenerationTracker) -> None:
        self._store = store
        self._aside = aside
        self._tracker = tracker
        # The last popular lists fetched (category -> list) and their generation: what we
        # serve when the store is gone.
        self.popular: dict[str, PopularList] = {}
        self.generation = ""
        # Every product's category and stock (None until loaded, or for a generation
        # published without catalogue parts: then facts are looked up per call).
        self.catalogue: InProcessCatalogue | None = None
        self._loading: tuple[str, asyncio.Task[None]] | None = None
        self._tried_at = 0.0
        # The generation whose lists and catalogue were read (whatever they held).
        self.loaded_generation = ""

    def popular_list(
        self, gen: str, category: str, fetched: PopularList | None
    ) -> tuple[Sequence[ScoredItem], bool]:
        """The fill list for ``category`` and whether it is ``gen``'s own (not a list
        remembered from another generation)."""
        if fetched is not None:
            if self.generation in ("", gen):
                self.popular[category] = fetched
                self.generation = gen
            return fetched.items, True
        remembered = self.popular.get(category)
        return (remembered.items if remembered else ()), self.generation == gen

    def load_again(self, gen: str) -> None:
        """A load of ``gen``'s lists and catalogue that failed (a store timeout at start-up)
        is tried again, at most every LOAD_RETRY_S, in the background."""
        loading = self._loading
        if loading is None or loading[0] != gen or not loading[1].done():
            return
        now = time.monotonic()
        if now - self._tried_at < LOAD_RETRY_S:
            return
        self._tried_at = now
        self._loading = (gen, asyncio.create_task(self._load(gen)))

    async def ensure(self, gen: str) -> None:
        """Load ``gen``'s lists once, however many callers ask (start-up and the
        generation-change listener both do)."""
        if self._loading is None or self._loading[0] != gen:
            self._loading = (gen, asyncio.create_task(self._load(gen)))
        await asyncio.shield(self._loading[1])

    async def _load(self, gen: str) -> None:
        """Fetch every popular list of ``gen`` (overall and per category) and its catalogue
        facts into memory."""
        try:
            manifest = await self._tracker.manifest(gen)
            categories = ["", *(manifest.categories if manifest else ())]
            fetched, parts = await asyncio.gather(
                self._aside.get_many(codec.POPULAR, gen, categories,
                                     lambda ids: self._store.get_popular(gen, ids)),
                self._store.get_catalogue(gen),
            )
        except StoreUnavailable as exc:
            log.warning("could not load the popular lists of %s: %s", gen, exc)
            return
        lists = {c: f.value for c, f in fetched.items() if f.value is not None}
        if lists:
            self.popular, self.generation = lists, gen
            log.info("fallback lists of %s loaded: %d categories", gen, len(lists) - 1)
        self.loaded_generation = gen
        expected = manifest.counts.get(layout.CATALOGUE_PARTS, 0) if manifest else 0
        if parts and len(parts) == expected:
            self.catalogue = InProcessCatalogue.from_parts(gen, parts)
            log.info("catalogue of %s loaded: %d products, %.1f MB", gen,
                     len(self.catalogue), self.catalogue.nbytes / 1e6)
        elif expected:
            log.warning("catalogue of %s incomplete (%d of %d parts): facts looked up per call",
                        gen, len(parts), expected)
