"""A bounded in-process memo of finished Recommend responses for the served generation.

Within one generation an answer depends only on the request: profiles, neighbours,
stock and popular lists are all fixed at publish time. So a complete answer (no store
failure shaped it) can be given again to the same request bytes without parsing the
query, touching any cache or ranking anything: on a hot page that is most of the
server's Python work per call. Keys are the request's deterministic serialization; a
generation change empties the memo; entries also expire after ``ttl_s``, like the L1.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from recsvc.api.v1 import recommender_pb2 as rpb

__all__ = ["AnswerMemo"]


class AnswerMemo:
    def __init__(
        self, entries: int, ttl_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._entries = entries
        self._ttl_s = ttl_s
        self._clock = clock
        self._generation = ""
        # request bytes -> (expires at, response); least recently used first.
        self._memo: OrderedDict[bytes, tuple[float, rpb.RecommendResponse]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._memo)

    def get(self, generation: str | None, key: bytes) -> rpb.RecommendResponse | None:
        if generation != self._generation:
            return None
        found = self._memo.get(key)
        if found is None:
            return None
        if found[0] <= self._clock():
            del self._memo[key]
            return None
        self._memo.move_to_end(key)
        return found[1]

    def put(self, generation: str, key: bytes, response: rpb.RecommendResponse) -> None:
        """Remember ``response`` (callers must not change it afterwards)."""
        if generation != self._generation:
            self._memo.clear()
            self._generation = generation
        self._memo[key] = (self._clock() + self._ttl_s, response)
        self._memo.move_to_end(key)
        if len(self._memo) > self._entries:
            self._memo.popitem(last=False)
