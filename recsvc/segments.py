"""Segments use cases: list the served generation's segments, stream members with resume tokens."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass

from generation import Manifest, SegmentInfo, SegmentMember
from recsvc.errors import InvalidRequest, NotFound, StoreUnavailable, Unavailable
from recsvc.export_lists import StoreLists
from recsvc.models import SegmentQuery
from recsvc.store.base import ProfileStore
from recsvc.tracker import GenerationTracker

__all__ = ["SegmentList", "SegmentService", "StreamedMember", "decode_token", "encode_token"]

_TOKEN_VERSION = 1


@dataclass(frozen=True, slots=True)
class SegmentList:
    generation: str
    # Sorted by name.
    segments: tuple[SegmentInfo, ...]


@dataclass(frozen=True, slots=True)
class StreamedMember:
    member: SegmentMember
    # Pass back as SegmentQuery.resume_token to continue after this member.
    resume_token: str
    generation: str


def encode_token(generation: str, user_id: str) -> str:
    """Opaque to callers: the generation and the last user id streamed."""
    raw = json.dumps([_TOKEN_VERSION, generation, user_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_token(token: str) -> tuple[str, str]:
    """(generation, user id); InvalidRequest naming ``resume_token`` for anything we did
    not issue."""
    try:
        version, generation, user_id = json.loads(base64.urlsafe_b64decode(token.encode()))
        if version != _TOKEN_VERSION or not isinstance(generation, str) or not isinstance(
            user_id, str
        ):
            raise ValueError("unexpected token content")
    except (binascii.Error, ValueError, TypeError, UnicodeError) as exc:
        raise InvalidRequest("resume_token", "not a token issued by this service") from exc
    return generation, user_id


class SegmentService:
    """Reads segments of the served generation; the stream pulls one store page at a time,
    so a slow consumer (or a gRPC flow-control stall) holds at most one page."""

    def __init__(
        self, store: ProfileStore, tracker: GenerationTracker, *, store_timeout_s: float
    ) -> None:
        self._store = store
        self._tracker = tracker
        self._store_timeout_s = store_timeout_s

    async def _served(self) -> Manifest:
        pointer, manifest = await self._tracker.served(self._store_timeout_s)
        if manifest is None:
            raise Unavailable(f"generation {pointer.generation} has no manifest (expired?)")
        return manifest

    async def list_segments(self) -> SegmentList:
        manifest = await self._served()
        segments = tuple(sorted(manifest.segments, key=lambda s: s.name))
        return SegmentList(manifest.generation, segments)

    async def stream(self, query: SegmentQuery) -> AsyncIterator[StreamedMember]:
        """Members of ``query.name`` in user-id order, after the resume token's member.
        Raises InvalidRequest (resume_token), NotFound (segment), Unavailable."""
        manifest = await self._served()
        gen = manifest.generation
        after: str | None = None
        if query.resume_token:
            token_gen, after = decode_token(query.resume_token)
            if token_gen != gen:
                raise InvalidRequest(
                    "resume_token",
                    f"issued for generation {token_gen}, but {gen} is served now: "
                    "start again without a token",
                )
        self._check_segment(manifest, query.name)
        sent = 0
        async with aclosing(self._pages(gen, query.name, query.page_size, after)) as pages:
            async for page in pages:
                for member in page:
                    yield StreamedMember(member, encode_token(gen, member.user_id), gen)
                    sent += 1
                    if query.limit and sent >= query.limit:
                        return

    async def members(
        self, name: str, *, page_size: int
    ) -> tuple[str, AsyncGenerator[list[SegmentMember], None]]:
        """(generation, pages): every member of ``name`` in the served generation, in
        user-id order, one store page at a time (what ``stream`` reads; exports use it).
        Raises NotFound (segment) and Unavailable now, StoreUnavailable while iterating."""
        manifest = await self._served()
        self._check_segment(manifest, name)
        return manifest.generation, self._pages(manifest.generation, name, page_size, None)

    def export_lists(self) -> StoreLists:
        """Where exports read the members' recommended products (the same store)."""
        return StoreLists(self._store, store_timeout_s=self._store_timeout_s)

    @staticmethod
    def _check_segment(manifest: Manifest, name: str) -> None:
        if name not in {s.name for s in manifest.segments}:
            raise NotFound(f"no segment named {name!r} in generation {manifest.generation}")

    async def _pages(
        self, generation: str, name: str, page_size: int, after: str | None
    ) -> AsyncGenerator[list[SegmentMember], None]:
        pages = self._store.iter_segment_members(
            generation, name, page_size=page_size, after_user_id=after
        )
        async with aclosing(pages):
            while True:
                try:
                    async with asyncio.timeout(self._store_timeout_s):
                        page = await anext(pages)
                except StopAsyncIteration:
                    return
                except TimeoutError as exc:
                    raise StoreUnavailable("reading a segment page timed out") from exc
                yield page
