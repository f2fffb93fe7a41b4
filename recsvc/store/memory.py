"""InMemoryProfileStore: a real dict-backed ProfileStore for domain tests and trying things out."""

from __future__ import annotations

import bisect
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field, replace

from generation import (
    GenerationData,
    Manifest,
    NeighbourFacts,
    Pointer,
    SegmentMember,
    details,
    layout,
    payloads,
)
from recsvc.errors import StoreUnavailable

__all__ = ["InMemoryProfileStore"]


@dataclass
class _Generation:
    """One generation's payload bytes, encoded by the same codecs the batch job's writer
    uses, so the service reads here exactly what it reads from DynamoDB."""

    manifest: bytes
    profiles: dict[str, bytes] = field(default_factory=dict)
    neighbours: dict[str, bytes] = field(default_factory=dict)
    facts: dict[str, bytes] = field(default_factory=dict)
    popular: dict[str, bytes] = field(default_factory=dict)
    catalogue: list[bytes] = field(default_factory=list)
    details: dict[int, bytes] = field(default_factory=dict)
    # segment -> (user ids, payloads), sorted by user id (what a Query by range key returns).
    segments: dict[str, tuple[list[str], list[bytes]]] = field(default_factory=dict)


class InMemoryProfileStore:
    """Holds whole generations in dicts and follows the same pointer semantics as the
    DynamoDB layout: ``publish`` adds a generation and flips the pointer to it."""

    def __init__(self) -> None:
        self._generations: dict[str, _Generation] = {}
        self._pointer: Pointer | None = None
        self._closed = False

    def publish(self, data: GenerationData, *, flip: bool = True) -> None:
        manifest = data.manifest
        gen = _Generation(b"")
        gen.profiles = {p.user_id: payloads.encode_profile(p) for p in data.profiles}
        seen = NeighbourFacts(data.neighbours)
        for n in seen:
            gen.neighbours[n.product_id] = payloads.encode_neighbours(n)
            gen.facts[n.product_id] = payloads.encode_facts(n.facts)
        # As the batch job's writer does: the catalogue given, else the neighbours' facts.
        facts = data.catalogue or seen.collected()
        gen.catalogue = [layout.payload(i)
                         for i in layout.catalogue_items(manifest.generation, facts)]
        manifest = replace(manifest, counts={**manifest.counts,
                                             layout.CATALOGUE_PARTS: len(gen.catalogue)})
        manifest, buckets = details.with_details_count(manifest, data.details)
        if data.details is not None:
            gen.details = dict(enumerate(layout.payload(i) for i in details.details_items(
                manifest.generation, data.details, buckets)))
        gen.manifest = payloads.encode_manifest(manifest)
        gen.popular = {p.category: payloads.encode_popular(p) for p in data.popular}
        members: dict[str, list[SegmentMember]] = {}
        for segment, member in data.segment_members:
            members.setdefault(segment, []).append(member)
        for segment, found in members.items():
            found.sort(key=lambda m: m.user_id)
            gen.segments[segment] = (
                [m.user_id for m in found],
                [payloads.encode_segment_member(m) for m in found],
            )
        self._generations[manifest.generation] = gen
        if flip:
            self._pointer = Pointer(
                manifest.generation, manifest.published_at, manifest.format_version
            )

    def _check(self) -> None:
        if self._closed:
            raise StoreUnavailable("store is closed")

    def _gen(self, generation: str) -> _Generation | None:
        self._check()
        return self._generations.get(generation)

    async def current_generation(self) -> Pointer | None:
        self._check()
        return self._pointer

    async def get_manifest(self, generation: str) -> Manifest | None:
        gen = self._gen(generation)
        return payloads.decode_manifest(gen.manifest) if gen else None

    async def get_profiles(self, generation: str, user_ids: Sequence[str]) -> dict[str, bytes]:
        gen = self._gen(generation)
        return _pick(gen.profiles if gen else {}, user_ids)

    async def get_neighbours(self, generation: str, product_ids: Sequence[str]) -> dict[str, bytes]:
        gen = self._gen(generation)
        return _pick(gen.neighbours if gen else {}, product_ids)

    async def get_facts(self, generation: str, product_ids: Sequence[str]) -> dict[str, bytes]:
        gen = self._gen(generation)
        return _pick(gen.facts if gen else {}, product_ids)

    async def get_popular(self, generation: str, categories: Sequence[str]) -> dict[str, bytes]:
        gen = self._gen(generation)
        return _pick(gen.popular if gen else {}, categories)

    async def get_catalogue(self, generation: str) -> list[bytes]:
        gen = self._gen(generation)
        return list(gen.catalogue) if gen else []

    async def get_details(self, generation: str, buckets: Sequence[int]) -> dict[int, bytes]:
        gen = self._gen(generation)
        held = gen.details if gen else {}
        return {b: held[b] for b in dict.fromkeys(buckets) if b in held}

    async def iter_segment_members(
        self,
        generation: str,
        segment: str,
        *,
        page_size: int,
        after_user_id: str | None = None,
    ) -> AsyncGenerator[list[SegmentMember], None]:
        if page_size < 1:
            raise ValueError("page_size must be >= 1")
        gen = self._gen(generation)
        ids, stored = gen.segments.get(segment, ([], [])) if gen else ([], [])
        start = bisect.bisect_right(ids, after_user_id) if after_user_id is not None else 0
        for i in range(start, len(stored), page_size):
            self._check()
            yield [payloads.decode_segment_member(raw) for raw in stored[i : i + page_size]]

    async def aclose(self) -> None:
        self._closed = True


def _pick(source: dict[str, bytes], wanted: Sequence[str]) -> dict[str, bytes]:
    return {k: source[k] for k in dict.fromkeys(wanted) if k in source}
