"""Keys asked for in the same event-loop turn go to DynamoDB together.

A Recommend that misses the cache for its profile and for its context products' neighbours
asks the store for both at once; so do concurrent calls missing at the same moment. Each
ask used to be its own BatchGetItem; here every key asked for before the loop turns again
joins one request (split at the 100-key limit, duplicates sent once), and each asker gets
its own items back. An asker that stops waiting (its deadline) leaves the request to the
others.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable

from generation import layout

__all__ = ["Coalescer"]

# Keys of one group go out together: (table, attribute), as a request reads one table
# with one projection.
Group = tuple[str, str]
GetChunk = Callable[[list[layout.Key], Group], Awaitable[list[layout.Item]]]
Entry = tuple[layout.Key, "asyncio.Future[layout.Item | None]"]


def _retrieve(future: asyncio.Future[layout.Item | None]) -> None:
    """Nobody may be left awaiting a failed future; don't warn about it then."""
    if not future.cancelled():
        future.exception()


class Coalescer:
    """``get`` returns the items found for the keys asked (None: not in the table), or
    raises what the request for them raised."""

    def __init__(self, get_chunk: GetChunk, limit: int) -> None:
        self._get_chunk = get_chunk
        self._limit = limit
        # group -> (pk, sk) -> (key, future of its item), asked in this loop turn
        self._pending: dict[Group, dict[tuple[str, str], Entry]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # requests sent, keys asked (before and after merging duplicates)
        self.counters: Counter[str] = Counter()

    async def get(self, keys: dict[str, layout.Key], group: Group,
                  ) -> dict[str, layout.Item | None]:
        loop = asyncio.get_running_loop()
        pending = self._pending.get(group)
        if pending is None:
            pending = self._pending[group] = {}
            loop.call_soon(self._flush, group)
        futures: dict[str, asyncio.Future[layout.Item | None]] = {}
        for id_, key in keys.items():
            entry = pending.get(layout.key_of(key))
            if entry is None:
                future: asyncio.Future[layout.Item | None] = loop.create_future()
                future.add_done_callback(_retrieve)
                entry = pending[layout.key_of(key)] = (key, future)
            futures[id_] = entry[1]
        self.counters["keys_asked"] += len(futures)
        # wait(), not gather(): a caller cancelled here must not cancel shared futures.
        await asyncio.wait(set(futures.values()))
        return {id_: future.result() for id_, future in futures.items()}

    def _flush(self, group: Group) -> None:
        entries = list(self._pending.pop(group, {}).values())
        for start in range(0, len(entries), self._limit):
            task = asyncio.create_task(self._fetch(entries[start:start + self._limit], group))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _fetch(self, chunk: list[Entry], group: Group) -> None:
        self.counters["requests"] += 1
        self.counters["keys_sent"] += len(chunk)
        try:
            items = await self._get_chunk([key for key, _ in chunk], group)
        except BaseException as exc:  # noqa: B036 - hand every outcome to the askers
            error = exc if isinstance(exc, Exception) else asyncio.CancelledError()
            for _, future in chunk:
                if not future.done():
                    future.set_exception(error)
            if not isinstance(exc, Exception):
                raise
            return
        found = {layout.key_of(item): item for item in items}
        for key, future in chunk:
            if not future.done():
                future.set_result(found.get(layout.key_of(key)))

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
