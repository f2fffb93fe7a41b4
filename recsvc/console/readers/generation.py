"""The served generation as the console reads it: pointer, manifest, generation
summaries (the charts), segment pages (previews, exports) and single profiles (lookup).
Never a scan: every read is a GetItem or one Query page."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

from generation import Manifest, Pointer, Profile, SegmentMember, payloads
from generation.summaries import GenerationSummary, decode_summary_item, summaries_query
from recsvc.errors import NotFound, StoreUnavailable, Unavailable
from recsvc.store.dynamodb import DynamoProfileStore, call_dynamodb

__all__ = ["GenerationReader", "Served"]

T = TypeVar("T")

# How soon summaries are read again when the served generation has none among them.
RETRY_S = 2.0


@dataclass(frozen=True, slots=True)
class Served:
    pointer: Pointer
    manifest: Manifest


class GenerationReader:
    """Reads through the service's own store code (DynamoProfileStore) plus the summaries
    Query. Manifests are kept per generation (they never change). Summaries change when
    the job publishes: the read list is reused while it holds the served generation's
    summary, for at most ``summaries_ttl_s``; a list without it (the job just published)
    is read again after RETRY_S."""

    def __init__(self, client: Any, table: str, *, timeout_s: float, history: int,
                 summaries_ttl_s: float) -> None:
        self._client = client
        self._table = table
        self._store = DynamoProfileStore(client, table)
        self._timeout_s = timeout_s
        self._history = history
        self._summaries_ttl_s = summaries_ttl_s
        self._manifests: dict[str, Manifest] = {}
        self._summaries: tuple[float, frozenset[str], list[GenerationSummary]] | None = None

    async def _bounded(self, call: Awaitable[T]) -> T:
        try:
            async with asyncio.timeout(self._timeout_s):
                return await call
        except TimeoutError as exc:
            raise StoreUnavailable("DynamoDB did not answer in time") from exc

    async def served(self) -> Served:
        """The generation the pointer names and its manifest; Unavailable when nothing
        is published or its manifest expired."""
        pointer = await self._bounded(self._store.current_generation())
        if pointer is None:
            raise Unavailable("no generation is published yet")
        manifest = self._manifests.get(pointer.generation)
        if manifest is None:
            manifest = await self._bounded(self._store.get_manifest(pointer.generation))
            if manifest is None:
                raise Unavailable(f"generation {pointer.generation} has no manifest (expired?)")
            self._manifests = {pointer.generation: manifest}  # only the served one is kept
        return Served(pointer, manifest)

    async def summaries(self, served: str) -> list[GenerationSummary]:
        """The newest ``history`` summaries, newest first; ``served``: the generation the
        pointer names now (its summary is expected among them)."""
        cached = self._summaries
        if cached is not None:
            age = time.monotonic() - cached[0]
            if age < self._summaries_ttl_s and (served in cached[1] or age < RETRY_S):
                return cached[2]
        query = summaries_query(self._table, self._history)
        found: list[GenerationSummary] = []
        start_key: dict[str, Any] | None = None
        # One page holds ~90 summaries of 50 segments (~300 KB of 1 MB); more pages only
        # for long histories of many segments.
        while len(found) < self._history:
            extra = {"ExclusiveStartKey": start_key} if start_key else {}
            resp = await self._bounded(self._query(**query, **extra))
            found.extend(decode_summary_item(item) for item in resp.get("Items", []))
            start_key = resp.get("LastEvaluatedKey")
            if not start_key:
                break
        found = found[: self._history]
        self._summaries = (time.monotonic(), frozenset(s.generation for s in found), found)
        return found

    async def _query(self, **kwargs: Any) -> dict[str, Any]:
        result: dict[str, Any] = await call_dynamodb(self._client.query, **kwargs)
        return result

    async def preview(self, generation: str, segment: str, limit: int) -> list[SegmentMember]:
        """The first ``limit`` members of ``segment`` in user-id order (one Query page)."""
        pages = self._store.iter_segment_members(generation, segment, page_size=limit)
        try:
            page = await self._bounded(anext(pages, []))
        finally:
            await pages.aclose()
        return page[:limit]

    async def profile(self, generation: str, user_id: str) -> Profile | None:
        found = await self._bounded(self._store.get_profiles(generation, [user_id]))
        raw = found.get(user_id)
        return payloads.decode_profile(raw) if raw is not None else None

    async def members(
        self, name: str, *, page_size: int
    ) -> tuple[str, AsyncGenerator[list[SegmentMember], None]]:
        """segment_export's MemberSource: every member of ``name`` in the served
        generation, one store page at a time."""
        served = await self.served()
        if name not in {s.name for s in served.manifest.segments}:
            raise NotFound(f"no segment named {name!r} in generation {served.pointer.generation}")
        gen = served.pointer.generation
        return gen, self._store.iter_segment_members(gen, name, page_size=page_size)

    async def aclose(self) -> None:
        await self._store.aclose()
