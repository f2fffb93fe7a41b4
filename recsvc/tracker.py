"""GenerationTracker: the served generation pointer and manifests, cached in-process."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from typing import Any

from generation import READABLE_FORMATS, Manifest, Pointer
from recsvc.errors import StoreUnavailable, Unavailable
from recsvc.store.base import ProfileStore

__all__ = ["GenerationTracker"]

log = logging.getLogger(__name__)

# Manifests kept in memory (the served one plus a few recent, for streams still on them).
MANIFESTS_KEPT = 4
# After a failed re-read (store down), try again this soon rather than on every request.
RETRY_AFTER_FAILURE_S = 1.0

Listener = Callable[[str], Coroutine[Any, Any, None]]


class GenerationTracker:
    """Knows which generation to serve without a store read per request.

    The pointer is re-read at most every ``refresh_s``. Once one is known, requests never
    wait for a re-read (stale-while-revalidate: one background refresh at a time), and a
    failed re-read keeps the last known pointer. Only the very first read is awaited.
    A generation written in a payload format this service cannot read is never switched
    to: the one served stays, and the refusal is logged once per generation.
    ``on_change`` callbacks run (as background tasks) when a new generation is seen."""

    def __init__(
        self,
        store: ProfileStore,
        *,
        refresh_s: float,
        timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._refresh_s = refresh_s
        self._timeout_s = timeout_s
        self._clock = clock
        self._pointer: Pointer | None = None
        self._read_at = float("-inf")
        self._refreshing: asyncio.Task[Pointer | None] | None = None
        self._manifests: OrderedDict[str, Manifest] = OrderedDict()
        self._listeners: list[Listener] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._refused: str | None = None

    def on_change(self, listener: Listener) -> None:
        self._listeners.append(listener)

    @property
    def last_known(self) -> Pointer | None:
        return self._pointer

    def current_nowait(self) -> Pointer | None:
        """The pointer to serve if one is known (starting a background re-read when it is
        due), without awaiting anything; None until the first read has succeeded."""
        if self._pointer is not None and self._clock() - self._read_at >= self._refresh_s:
            self._refresh_task()
        return self._pointer

    async def current(self) -> Pointer | None:
        """The pointer to serve; None when nothing (readable) is published.
        Raises StoreUnavailable only while no pointer has ever been read."""
        if self._pointer is not None:
            return self.current_nowait()
        stale = self._clock() - self._read_at >= self._refresh_s
        if not stale:  # read recently: nothing is published
            return None
        return await asyncio.shield(self._refresh_task())

    async def refresh(self) -> Pointer | None:
        """Re-read the pointer now (start-up, tests); raises StoreUnavailable."""
        return await asyncio.shield(self._refresh_task())

    def _refresh_task(self) -> asyncio.Task[Pointer | None]:
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.create_task(self._read())
            # Background refreshes may fail with nobody awaiting: retrieve it here.
            self._refreshing.add_done_callback(lambda t: t.cancelled() or t.exception())
        return self._refreshing

    async def _read(self) -> Pointer | None:
        try:
            async with asyncio.timeout(self._timeout_s):
                pointer = await self._store.current_generation()
        except (TimeoutError, StoreUnavailable) as exc:
            if self._pointer is not None:
                self._read_at = self._clock() - self._refresh_s + RETRY_AFTER_FAILURE_S
                log.warning("cannot re-read the generation pointer (%s); still serving %s",
                            type(exc).__name__, self._pointer.generation)
            if isinstance(exc, TimeoutError):
                raise StoreUnavailable("reading the generation pointer timed out") from exc
            raise
        self._read_at = self._clock()
        if pointer is not None and pointer.format_version not in READABLE_FORMATS:
            self._refuse(pointer)
            return self._pointer
        previous, self._pointer = self._pointer, pointer
        if pointer is not None and (previous is None or previous.generation != pointer.generation):
            log.info("serving generation %s (published %s)", pointer.generation,
                     pointer.published_at)
            for listener in self._listeners:
                task = asyncio.create_task(listener(pointer.generation))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        return self._pointer

    def _refuse(self, pointer: Pointer) -> None:
        if self._refused == pointer.generation:
            return
        self._refused = pointer.generation
        served = self._pointer.generation if self._pointer is not None else "nothing"
        log.error(
            "not switching to generation %s: it is written in payload format %d and this "
            "service reads formats %s; still serving %s (upgrade the service to serve it)",
            pointer.generation, pointer.format_version, sorted(READABLE_FORMATS), served,
        )

    async def manifest(self, generation: str) -> Manifest | None:
        """The manifest of ``generation`` (cached); raises StoreUnavailable."""
        cached = self._manifests.get(generation)
        if cached is not None:
            self._manifests.move_to_end(generation)
            return cached
        try:
            async with asyncio.timeout(self._timeout_s):
                manifest = await self._store.get_manifest(generation)
        except TimeoutError as exc:
            raise StoreUnavailable("reading the manifest timed out") from exc
        if manifest is not None:
            self._manifests[generation] = manifest
            while len(self._manifests) > MANIFESTS_KEPT:
                self._manifests.popitem(last=False)
        return manifest

    async def served(self, timeout_s: float) -> tuple[Pointer, Manifest | None]:
        """The pointer served now and its manifest (None if expired), within ``timeout_s``.
        Raises Unavailable when nothing is published, StoreUnavailable on store trouble."""
        try:
            async with asyncio.timeout(max(timeout_s, 0.0)):
                pointer = await self.current()
                if pointer is None:
                    raise Unavailable("no generation has been published yet")
                return pointer, await self.manifest(pointer.generation)
        except TimeoutError as exc:
            raise StoreUnavailable("the profile store did not answer in time") from exc

    async def aclose(self) -> None:
        """Cancel background refreshes and listeners (shutdown)."""
        tasks = [*self._tasks, *([self._refreshing] if self._refreshing else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
