"""CountingStore: a real ProfileStore (in memory) that counts and can slow its calls."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncGenerator, Sequence

from generation import Manifest, Pointer, SegmentMember
from recsvc.store.memory import InMemoryProfileStore


class CountingStore:
    """Delegates to an InMemoryProfileStore; ``calls[method]`` counts calls and ``ids``
    counts the ids asked for. ``delay_s`` makes every call take that long, so concurrent
    requests really overlap (and deadlines really pass)."""

    def __init__(self, inner: InMemoryProfileStore, delay_s: float = 0.0) -> None:
        self.inner = inner
        self.delay_s = delay_s
        self.calls: Counter[str] = Counter()
        self.ids: Counter[str] = Counter()

    async def _enter(self, method: str, ids: Sequence[str] = ()) -> None:
        self.calls[method] += 1
        self.ids.update(ids)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)

    async def current_generation(self) -> Pointer | None:
        await self._enter("current_generation")
        return await self.inner.current_generation()

    async def get_manifest(self, generation: str) -> Manifest | None:
        await self._enter("get_manifest")
        return await self.inner.get_manifest(generation)

    async def get_profiles(self, generation: str, user_ids: Sequence[str]) -> dict[str, bytes]:
        await self._enter("get_profiles", user_ids)
        return await self.inner.get_profiles(generation, user_ids)

    async def get_neighbours(self, generation: str, product_ids: Sequence[str]) -> dict[str, bytes]:
        await self._enter("get_neighbours", product_ids)
        return await self.inner.get_neighbours(generation, product_ids)

    async def get_facts(self, generation: str, product_ids: Sequence[str]) -> dict[str, bytes]:
        await self._enter("get_facts", product_ids)
        return await self.inner.get_facts(generation, product_ids)

    async def get_popular(self, generation: str, categories: Sequence[str]) -> dict[str, bytes]:
        await self._enter("get_popular", categories)
        return await self.inner.get_popular(generation, categories)

    async def get_catalogue(self, generation: str) -> list[bytes]:
        await self._enter("get_catalogue")
        return await self.inner.get_catalogue(generation)

    async def get_details(self, generation: str, buckets: Sequence[int]) -> dict[int, bytes]:
        await self._enter("get_details", [str(b) for b in buckets])
        return await self.inner.get_details(generation, buckets)

    async def iter_segment_members(
        self, generation: str, segment: str, *, page_size: int, after_user_id: str | None = None
    ) -> AsyncGenerator[list[SegmentMember], None]:
        async for page in self.inner.iter_segment_members(
            generation, segment, page_size=page_size, after_user_id=after_user_id
        ):
            await self._enter("segment_page")
            yield page

    async def aclose(self) -> None:
        await self.inner.aclose()
