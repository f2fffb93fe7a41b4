"""InMemoryProfileStore: a real dict-backed ProfileStore for domain tests and trying things out."""

from __future__ import annotations

import bisect
from collections.abc import AsyncGenerator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from recsvc.errors import StoreUnavailable
from recsvc.models import Manifest, Neighbours, PopularList, Profile, SegmentMember

__all__ = ["InMemoryProfileStore"]

V = TypeVar("V")


@dataclass
class _Generation:
    manifest: Manifest
    profiles: dict[str, Profile] = field(default_factory=dict)
    neighbours: dict[str, Neighbours] = field(default_factory=dict)
    popular: dict[str, PopularList] = field(default_factory=dict)
    # segment -> members sorted by user id (what a DynamoDB Query by range key returns).
    segments: dict[str, list[SegmentMember]] = field(default_factory=dict)


class InMemoryProfileStore:
    """Holds whole generations in dicts and follows the same pointer semantics as the
    DynamoDB layout: ``publish`` adds a generation and flips the pointer to it."""

    def __init__(self) -> None:
        self._generations: dict[str, _Generation] = {}
        self._pointer: tuple[str, str] | None = None
        self._closed = False

    def publish(
        self,
        manifest: Manifest,
        profiles: Iterable[Profile] = (),
        neighbours: Iterable[Neighbours] = (),
        popular: Iterable[PopularList] = (),
        segment_members: Iterable[tuple[str, SegmentMember]] = (),
        *,
        flip: bool = True,
    ) -> None:
        gen = _Generation(manifest)
        gen.profiles = {p.user_id: p for p in profiles}
        gen.neighbours = {n.product_id: n for n in neighbours}
        gen.popular = {p.category: p for p in popular}
        for segment, member in segment_members:
            gen.segments.setdefault(segment, []).append(member)
        for members in gen.segments.values():
            members.sort(key=lambda m: m.user_id)
        self._generations[manifest.generation] = gen
        if flip:
            self._pointer = (manifest.generation, manifest.published_at)

    def _check(self) -> None:
        if self._closed:
            raise StoreUnavailable("store is closed")

    def _gen(self, generation: str) -> _Generation | None:
        self._check()
        return self._generations.get(generation)

    async def current_generation(self) -> tuple[str, str] | None:
        self._check()
        return self._pointer

    async def get_manifest(self, generation: str) -> Manifest | None:
        gen = self._gen(generation)
        return gen.manifest if gen else None

    async def get_profiles(self, generation: str, user_ids: Sequence[str]) -> dict[str, Profile]:
        gen = self._gen(generation)
        return _pick(gen.profiles if gen else {}, user_ids)

    async def get_neighbours(
        self, generation: str, product_ids: Sequence[str]
    ) -> dict[str, Neighbours]:
        gen = self._gen(generation)
        return _pick(gen.neighbours if gen else {}, product_ids)

    async def get_popular(
        self, generation: str, categories: Sequence[str]
    ) -> dict[str, PopularList]:
        gen = self._gen(generation)
        return _pick(gen.popular if gen else {}, categories)

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
        members = gen.segments.get(segment, []) if gen else []
        ids = [m.user_id for m in members]
        start = bisect.bisect_right(ids, after_user_id) if after_user_id is not None else 0
        for i in range(start, len(members), page_size):
            self._check()
            yield members[i : i + page_size]

    async def aclose(self) -> None:
        self._closed = True


def _pick(source: dict[str, V], wanted: Sequence[str]) -> dict[str, V]:
    return {k: source[k] for k in dict.fromkeys(wanted) if k in source}
