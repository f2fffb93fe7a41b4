"""The ProfileStore protocol: batch reads of one published generation, nothing else.

Per-user and per-item reads return the stored payload bytes (generation.payloads decodes
them), so a cache fill can copy what the store returned without decoding and encoding it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from typing import Protocol, runtime_checkable

from generation import Manifest, Pointer, SegmentMember
from recsvc.errors import StoreUnavailable

__all__ = ["ProfileStore", "StoreUnavailable"]


@runtime_checkable
class ProfileStore(Protocol):
    """Read side of the generations the batch job publishes.

    Every method is a *batch* call: callers pass all the ids they need at once and the
    backend splits them to its own limits. Results are dicts keyed by the requested id,
    in request order (duplicates collapsed), values the payload bytes; ids the generation
    does not contain are simply absent (that is not an error). Any backend failure,
    timeout or incomplete batch raises :class:`~recsvc.errors.StoreUnavailable`; nothing
    else escapes.
    """

    async def current_generation(self) -> Pointer | None:
        """The pointer item (generation, published_at, format); None when nothing is published.

        Read consistently: a flip is visible to the next call."""
        ...

    async def get_manifest(self, generation: str) -> Manifest | None:
        """The manifest of ``generation``; None if it does not exist (expired or unknown)."""
        ...

    async def get_profiles(self, generation: str, user_ids: Sequence[str]) -> dict[str, bytes]:
        """Profile payloads of the given users that exist in ``generation``."""
        ...

    async def get_neighbours(self, generation: str, product_ids: Sequence[str]) -> dict[str, bytes]:
        """Neighbours payloads (facts and similar products) of the given products."""
        ...

    async def get_facts(self, generation: str, product_ids: Sequence[str]) -> dict[str, bytes]:
        """ProductFacts payloads (category, stock) of the given products: the same items as
        ``get_neighbours``, a few bytes each."""
        ...

    async def get_popular(self, generation: str, categories: Sequence[str]) -> dict[str, bytes]:
        """PopularList payloads by category; the overall list is category ``""``."""
        ...

    async def get_catalogue(self, generation: str) -> list[bytes]:
        """CataloguePart payloads of ``generation`` in part order (every product's category
        and stock); [] when it has none (written before parts existed). Read once per
        generation: a few pages of up to 1 MB."""
        ...

    async def get_details(self, generation: str, buckets: Sequence[int]) -> dict[int, bytes]:
        """ProductDetailsBucket payloads by bucket number (generation/details.py): names,
        prices and URLs for campaign exports, never read on the serving path."""
        ...

    def iter_segment_members(
        self,
        generation: str,
        segment: str,
        *,
        page_size: int,
        after_user_id: str | None = None,
    ) -> AsyncGenerator[list[SegmentMember], None]:
        """Members of ``segment`` in ascending user-id order (code point order, as
        DynamoDB sorts UTF-8 range keys), starting strictly after ``after_user_id``.

        Yields non-empty pages of at most ``page_size`` members, one store round trip
        each, so a slow consumer holds no more than one page. An unknown segment yields
        nothing. StoreUnavailable may be raised between pages."""
        ...

    async def aclose(self) -> None:
        """Release connections; the store is unusable afterwards. Idempotent."""
        ...
