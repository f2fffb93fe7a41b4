"""What the table serves now, read directly with boto3: the pointer, a manifest, a segment.

The batch job's own reads of published generations (the quality gate's figures,
``export-segment``), in the layout the contract (``generation``) defines.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterator
from typing import Any

from generation import READABLE_FORMATS, Manifest, Pointer, SegmentMember, layout, payloads
from profile_engine.errors import NothingServed, SegmentNotFound, UnreadableFormat

__all__ = ["ServedTable"]


class ServedTable:
    """Reads of one table's generations; ``client`` is a boto3 DynamoDB client."""

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table
        # generation -> the table holding its items, as its manifest names it (imported
        # generations have their own; the others live in ``table``).
        self._items_in: dict[str, str] = {}

    def pointer(self) -> Pointer | None:
        # Consistent: a run that flipped the pointer a moment ago is what we must see.
        item = self._client.get_item(
            TableName=self._table, Key=layout.pointer_key(), ConsistentRead=True
        ).get("Item")
        return layout.decode_pointer(item) if item else None

    def manifest(self, generation: str) -> Manifest | None:
        item = self._client.get_item(
            TableName=self._table, Key=layout.manifest_key(generation), ConsistentRead=True
        ).get("Item")
        if item is None:
            return None
        self._items_in[generation] = layout.manifest_table(item) or self._table
        return payloads.decode_manifest(layout.payload(item))

    def served(self) -> Manifest:
        """The served generation's manifest. Raises NothingServed, UnreadableFormat."""
        pointer = self.pointer()
        if pointer is None:
            raise NothingServed(f"table {self._table} serves no generation")
        if pointer.format_version not in READABLE_FORMATS:
            raise UnreadableFormat(
                f"generation {pointer.generation} is written in payload format "
                f"{pointer.format_version}; this version reads {sorted(READABLE_FORMATS)}"
            )
        manifest = self.manifest(pointer.generation)
        if manifest is None:
            raise NothingServed(f"generation {pointer.generation} has no manifest (expired?)")
        return manifest

    def segment_pages(
        self, generation: str, segment: str, page_size: int
    ) -> Iterator[list[SegmentMember]]:
        """Members of ``segment`` in user-id order (DynamoDB's range-key order), one Query
        page at a time, from the table holding ``generation`` (read its manifest first)."""
        table = self._items_in.get(generation, self._table)
        query = layout.segment_page_query(table, generation, segment, page_size)
        start: dict[str, Any] | None = None
        while True:
            resp = self._client.query(**query, **({"ExclusiveStartKey": start} if start else {}))
            page = [payloads.decode_segment_member(layout.payload(i)) for i in resp["Items"]]
            if page:
                yield page
            start = resp.get("LastEvaluatedKey")
            if not start:
                return

    async def members(
        self, name: str, *, page_size: int
    ) -> tuple[str, AsyncGenerator[list[SegmentMember], None]]:
        """segment_export's MemberSource: the served generation's members of ``name``, each
        page read in a worker thread (boto3 blocks). Raises SegmentNotFound and what
        ``served`` raises."""
        manifest = await asyncio.to_thread(self.served)
        if name not in {s.name for s in manifest.segments}:
            raise SegmentNotFound(
                f"no segment named {name!r} in generation {manifest.generation}"
            )
        return manifest.generation, self._pages(manifest.generation, name, page_size)

    async def _pages(
        self, generation: str, name: str, page_size: int
    ) -> AsyncGenerator[list[SegmentMember], None]:
        pages = self.segment_pages(generation, name, page_size)
        while (page := await asyncio.to_thread(next, pages, None)) is not None:
            yield page
