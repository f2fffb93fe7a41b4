"""Recommend answers as the transport renders them, remembered within a generation when safe.

Within one generation an answer depends only on the request: profiles, neighbours,
stock and popular lists are all fixed at publish time. So a complete answer (no store
failure shaped it) can be given again to the same request bytes without parsing the
query, touching any cache or ranking anything: on a hot page that is most of the
server's Python work per call. The memo keeps *rendered* answers (the transport's
response type ``R``), so a hit builds nothing either. Keys are the request's
deterministic serialization; a generation change empties the memo; entries also expire
after ``ttl_s``, like the L1.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Generic, Protocol, TypeVar

from recsvc import observability
from recsvc.models import Recommendation, RecommendQuery, Source
from recsvc.sessions import Shopper

__all__ = ["AnswerMemo", "Answers", "Recommends", "Remembered", "RememberingAnswers"]

R = TypeVar("R")


class Recommends(Protocol):
    """What answering needs of recsvc.recommender.Recommender."""

    async def recommend(self, query: RecommendQuery, budget_s: float | None) -> Recommendation:
        ...

    def generation_now(self) -> str | None:
        ...

    def count_remembered(self, source: Source) -> None:
        ...

    def known_session(self, shopper: Shopper) -> bytes | None:
        ...


@dataclass(frozen=True, slots=True)
class Remembered(Generic[R]):
    """A rendered answer as the memo keeps it, with what its access-log line needs (so a
    hit never looks inside ``response``)."""

    response: R
    source: Source
    items: int


class AnswerMemo(Generic[R]):
    """Remembered answers of one generation by request key: bounded (least recently used
    goes first) and expiring."""

    def __init__(
        self, entries: int, ttl_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._entries = entries
        self._ttl_s = ttl_s
        self._clock = clock
        self._generation = ""
        # request key -> (expires at, answer); least recently used first.
        self._memo: OrderedDict[bytes, tuple[float, Remembered[R]]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._memo)

    def get(self, generation: str | None, key: bytes) -> Remembered[R] | None:
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

    def put(self, generation: str, key: bytes, answer: Remembered[R]) -> None:
        """Remember ``answer`` (callers must not change its response afterwards)."""
        if generation != self._generation:
            self._memo.clear()
            self._generation = generation
        self._memo[key] = (self._clock() + self._ttl_s, answer)
        self._memo.move_to_end(key)
        if len(self._memo) > self._entries:
            self._memo.popitem(last=False)


class Answers(Generic[R]):
    """The Recommend use case for a transport: parse, recommend, annotate the call's
    access-log line, render. Every answer is computed afresh (no memo)."""

    def __init__(self, recommender: Recommends) -> None:
        self._recommender = recommender

    async def answer(
        self,
        key: bytes,
        shopper: Shopper,
        parse: Callable[[], RecommendQuery],
        render: Callable[[Recommendation], R],
        budget_s: float | None,
    ) -> R:
        """``key``: the request's deterministic bytes; ``shopper``: whose session memory
        the answer depends on; ``parse`` validates the request (raises InvalidRequest);
        ``budget_s``: the caller's remaining deadline."""
        return render(await self._recommend(parse, budget_s))

    async def _recommend(
        self, parse: Callable[[], RecommendQuery], budget_s: float | None
    ) -> Recommendation:
        result = await self._recommender.recommend(parse(), budget_s)
        observability.annotate(
            source=result.source.value, generation=result.generation, items=len(result.items)
        )
        return result


class RememberingAnswers(Answers[R]):
    """Answers given again from ``memo`` while their generation is served. Remembered:
    complete answers of the generation still served once they are computed. A remembered
    answer that came from the store is given again with source CACHE (it now comes from
    memory), and counts as ``remembered`` in the recommender's counters."""

    def __init__(self, recommender: Recommends, memo: AnswerMemo[R]) -> None:
        super().__init__(recommender)
        self.memo = memo

    async def answer(
        self,
        key: bytes,
        shopper: Shopper,
        parse: Callable[[], RecommendQuery],
        render: Callable[[Recommendation], R],
        budget_s: float | None,
    ) -> R:
        recommender = self._recommender
        # An answer also depends on the shopper's recent events, which any replica may
        # have changed: they are part of the key. Not known here without a round trip
        # (None): the answer is computed, which reads them, and remembered under them.
        state = recommender.known_session(shopper)
        if state is not None:
            generation = recommender.generation_now()
            found = self.memo.get(generation, _keyed(key, state))
            if found is not None:
                recommender.count_remembered(found.source)
                observability.annotate(
                    source=found.source.value, generation=generation, items=found.items
                )
                return found.response
        result = await self._recommend(parse, budget_s)
        response = render(result)
        if result.session_state is None:
            return response
        key = _keyed(key, result.session_state)
        if result.complete and result.generation == recommender.generation_now():
            if result.source == Source.STORE:
                again = replace(result, source=Source.CACHE)
                remembered = Remembered(render(again), again.source, len(again.items))
            else:
                remembered = Remembered(response, result.source, len(result.items))
            self.memo.put(result.generation, key, remembered)
        return response


def _keyed(key: bytes, state: bytes) -> bytes:
    return b"%b\x00%b" % (key, state) if state else key
