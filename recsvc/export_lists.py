"""What a segment export reads to give each member the products ``Recommend`` would show
them (segment_export.recommended): the served generation's profiles, catalogue stock,
overall popular list and product details, straight from the store. Not through the
cache: an export reads each member once, and must not push the shop's hot entries out."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import TypeVar

from generation import Profile, details, payloads
from recsvc.catalogue import InProcessCatalogue
from recsvc.errors import StoreUnavailable
from recsvc.store.base import ProfileStore
from segment_export import Storefront

__all__ = ["StoreLists"]

T = TypeVar("T")


class StoreLists:
    """segment_export's RecommendationSource over the service's store. Raises
    StoreUnavailable (a store failure, or a page read past ``store_timeout_s``)."""

    def __init__(self, store: ProfileStore, *, store_timeout_s: float) -> None:
        self._store = store
        self._timeout_s = store_timeout_s

    async def _timed(self, call: Awaitable[T], what: str) -> T:
        try:
            async with asyncio.timeout(self._timeout_s):
                return await call
        except TimeoutError as exc:
            raise StoreUnavailable(f"reading {what} for an export timed out") from exc

    async def storefront(self, generation: str) -> Storefront:
        """The generation's catalogue stock (as the service holds it in memory), overall
        popular list and details count: read once per export."""
        manifest, parts, popular = await asyncio.gather(
            self._store.get_manifest(generation),
            self._store.get_catalogue(generation),
            self._store.get_popular(generation, [""]),
        )
        catalogue = InProcessCatalogue.from_parts(generation, parts)

        def in_stock(product_id: str) -> bool | None:
            facts = catalogue.get(product_id)
            return None if facts is None else facts.in_stock

        fill = payloads.decode_popular(popular[""]).items if "" in popular else ()
        count = manifest.counts.get(details.DETAILS_BUCKETS, 0) if manifest else 0
        return Storefront(in_stock, fill, count)

    async def profiles(self, generation: str, user_ids: Sequence[str]) -> dict[str, Profile]:
        found = await self._timed(self._store.get_profiles(generation, user_ids), "profiles")
        return {u: payloads.decode_profile(raw) for u, raw in found.items()}

    async def detail_buckets(self, generation: str, buckets: Sequence[int]) -> dict[int, bytes]:
        return await self._timed(self._store.get_details(generation, buckets), "product details")
