"""Replaying test sessions through the running service (grpc.aio): before each event ask
for the top k, score whether the event's product is in it, then (session modes) Track it.

Modes, per kind of shopper:
  known/batch        Recommend(user_id), no Track: today's answer. Nothing changes within
                     a session without events, so it is asked once per session.
  known/session      Recommend(user_id, session_id) before each event, Track(event) after.
  anonymous/batch    SimilarItems(previous product) once there is one, else Recommend for
                     a session that sends no events (the popular list); no Track.
  anonymous/session  the same with the session's id, Track(event) after each.
  popular            Recommend for an unknown user without a session, asked once.
Sessions run concurrently; a known shopper's sessions run one after the other (their
events share the shopper's memory), each session's events in order.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from replay.data import Session

RECOMMENDER = "/recsvc.api.v1.Recommender/"
TYPES = {"view": "VIEW", "add_to_cart": "ADD_TO_CART", "purchase": "PURCHASE"}


@dataclass
class Score:
    """HR@k and NDCG@k over prediction points (one per replayed event), also over the
    events that are not re-buys of what the user bought before the cut."""

    events: int = 0
    hits: int = 0
    dcg: float = 0.0
    new_events: int = 0
    new_hits: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    sources: Counter[str] = field(default_factory=Counter)
    calls: int = 0
    seconds: float = 0.0

    def add(self, ranked: Sequence[str], product: str, rebuy: bool) -> None:
        self.events += 1
        self.new_events += not rebuy
        if product in ranked:
            self.hits += 1
            self.new_hits += not rebuy
            self.dcg += 1.0 / math.log2(list(ranked).index(product) + 2)

    def figures(self) -> dict[str, Any]:
        n = max(1, self.events)
        return {"hr@10": round(self.hits / n, 4), "ndcg@10": round(self.dcg / n, 4),
                "hr@10_not_rebuys": round(self.new_hits / max(1, self.new_events), 4),
                "events": self.events, "calls": self.calls,
                "calls_per_s": round(self.calls / self.seconds, 1) if self.seconds else None,
                "errors": dict(self.errors), "sources": dict(self.sources)}


class Replayer:
    """One run's calls: ``targets`` get one connection each, sessions spread over them."""

    def __init__(self, target: str, connections: int, concurrency: int, tag: str,
                 k: int = 10, purchases_as: str = "purchase") -> None:
        self._target, self._connections = target, connections
        self._types = {**TYPES, "purchase": TYPES[purchases_as]}
        self._concurrency, self._tag, self._k = concurrency, tag, k
        self._channels: list[Any] = []

    async def __aenter__(self) -> Replayer:
        import grpc

        from recsvc.api.v1 import recommender_pb2 as rpb

        self.rpb = rpb
        for _ in range(self._connections):
            # Own subchannel pool: a connection each, so SO_REUSEPORT spreads them.
            channel = grpc.aio.insecure_channel(
                self._target, options=[("grpc.use_local_subchannel_pool", 1)])
            self._channels.append(channel)
        self._stubs = [
            {name: ch.unary_unary(RECOMMENDER + name, request_serializer=req.SerializeToString,
                                  response_deserializer=resp.FromString)
             for name, req, resp in (
                 ("Recommend", rpb.RecommendRequest, rpb.RecommendResponse),
                 ("SimilarItems", rpb.SimilarItemsRequest, rpb.RecommendResponse),
                 ("Track", rpb.TrackRequest, rpb.TrackResponse))}
            for ch in self._channels]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for channel in self._channels:
            await channel.close()

    async def _call(self, unit: int, method: str, request: Any, score: Score) -> Any:
        score.calls += 1
        try:
            answer = await self._stubs[unit % len(self._stubs)][method](request, timeout=10)
        except Exception as exc:  # noqa: BLE001 - an error scores as a miss and is counted
            code = getattr(exc, "code", None)
            score.errors[f"{method}:{code().name if callable(code) else type(exc).__name__}"] += 1
            return None
        if method != "Track":
            score.sources[f"{method}:{self.rpb.Source.Name(answer.source)}"] += 1
        return answer

    def _ids(self, answer: Any) -> list[str]:
        return [i.product_id for i in answer.items] if answer is not None else []

    async def popular(self) -> list[str]:
        score = Score()
        answer = await self._call(0, "Recommend", self.rpb.RecommendRequest(
            user_id=f"{self._tag}-nobody", k=self._k), score)
        return self._ids(answer)

    async def replay(self, mode: str, sessions: list[Session]) -> Score:
        """``mode``: known/batch, known/session, anonymous/batch, anonymous/session."""
        shopper, memory = mode.split("/")
        score = Score()
        one = {("known", "batch"): self._known_batch, ("known", "session"): self._known_session,
               ("anonymous", "batch"): self._anonymous,
               ("anonymous", "session"): self._anonymous}[(shopper, memory)]
        units: list[list[Session]]
        if shopper == "known":  # a shopper's sessions in order, one unit
            by_user: dict[str, list[Session]] = {}
            for s in sessions:
                by_user.setdefault(s.user_id, []).append(s)
            units = list(by_user.values())
        else:
            units = [[s] for s in sessions]
        started = time.perf_counter()
        await _bounded(self._concurrency, [
            (lambda n=n, unit=unit: _each(unit, lambda s: one(n, s, memory, score)))
            for n, unit in enumerate(units)])
        score.seconds = time.perf_counter() - started
        return score

    async def _known_batch(self, unit: int, s: Session, memory: str, score: Score) -> None:
        answer = await self._call(unit, "Recommend", self.rpb.RecommendRequest(
            user_id=s.user_id, k=self._k), score)
        ranked = self._ids(answer)
        for (_, product, _), rebuy in zip(s.events, s.rebuys, strict=True):
            score.add(ranked, product, rebuy)

    async def _known_session(self, unit: int, s: Session, memory: str, score: Score) -> None:
        rpb = self.rpb
        request = rpb.RecommendRequest(user_id=s.user_id, session_id=s.session_id, k=self._k)
        for n, (kind, product, ts) in enumerate(s.events):
            answer = await self._call(unit, "Recommend", request, score)
            score.add(self._ids(answer), product, s.rebuys[n])
            await self._track(unit, s, n, kind, product, ts, score, user_id=s.user_id,
                              session_id=s.session_id)

    async def _anonymous(self, unit: int, s: Session, memory: str, score: Score) -> None:
        rpb = self.rpb
        session_id = f"{self._tag}-{memory}-{s.session_id}"
        own = session_id if memory == "session" else ""
        previous = ""
        for n, (kind, product, ts) in enumerate(s.events):
            if previous:
                answer = await self._call(unit, "SimilarItems", rpb.SimilarItemsRequest(
                    product_ids=[previous], k=self._k, session_id=own), score)
            else:
                answer = await self._call(unit, "Recommend", rpb.RecommendRequest(
                    session_id=session_id, k=self._k), score)
            score.add(self._ids(answer), product, s.rebuys[n])
            if memory == "session":
                await self._track(unit, s, n, kind, product, ts, score, session_id=session_id)
            previous = product

    async def _track(self, unit: int, s: Session, n: int, kind: str, product: str, ts: int,
                     score: Score, **shopper: str) -> None:
        rpb = self.rpb
        event = rpb.Event(event_id=f"{self._tag}-{shopper.get('user_id', 'a')}-{s.session_id}"
                                   f"-{n}", event_type=getattr(rpb, self._types[kind]),
                          product_id=product, client_time_ms=ts + n, **shopper)
        reply = await self._call(unit, "Track", rpb.TrackRequest(events=[event]), score)
        if reply is not None:
            status = reply.statuses[0]
            if status.outcome != rpb.EventStatus.ACCEPTED:
                score.errors[f"Track:{rpb.EventStatus.Outcome.Name(status.outcome)}"] += 1
            if not reply.sessions_updated:
                score.errors["Track:sessions_not_updated"] += 1


async def _each(unit: list[Session], one: Callable[[Session], Awaitable[None]]) -> None:
    for s in unit:
        await one(s)


async def _bounded(limit: int, jobs: list[Callable[[], Awaitable[None]]]) -> None:
    """Run ``jobs`` in order, at most ``limit`` at a time."""
    queue = iter(jobs)

    async def worker() -> None:
        for job in queue:
            await job()

    await asyncio.gather(*(worker() for _ in range(limit)))
