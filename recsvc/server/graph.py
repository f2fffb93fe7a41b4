"""The service's object graph: one frozen value, built in one place from settings, store, cache."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from recsvc.answers import AnswerMemo, Answers, RememberingAnswers
from recsvc.api.v1 import recommender_pb2 as rpb
from recsvc.cache import Cache
from recsvc.cache.aside import CacheAside
from recsvc.cache.memory import ObjectLRU
from recsvc.delivery import EventSink, open_sink
from recsvc.exports import ExportService
from recsvc.metrics import Metrics
from recsvc.recommender import Recommender
from recsvc.segments import SegmentService
from recsvc.server.health import DrainingHealthServicer
from recsvc.server.interceptors import RequestContext
from recsvc.sessions import SessionMemory, open_sessions
from recsvc.settings import Settings
from recsvc.store import ProfileStore
from recsvc.tracker import GenerationTracker
from recsvc.tracking import EventIntake

__all__ = ["ServiceGraph", "build_graph"]


@dataclass(frozen=True)
class ServiceGraph:
    """Everything behind the servicers. The store and cache belong to whoever opened
    them; the rest is built by ``build_graph`` and stopped by ``aclose``."""

    store: ProfileStore
    cache: Cache
    aside: CacheAside
    tracker: GenerationTracker
    recommender: Recommender
    segments: SegmentService
    # Opens its S3 client on the first s3:// export; closed by aclose().
    exports: ExportService
    answers: Answers[rpb.RecommendResponse]
    metrics: Metrics
    health: DrainingHealthServicer
    requests: RequestContext
    sessions: SessionMemory
    # Where accepted Track events go for the nightly job (Firehose); started by start().
    sink: EventSink
    intake: EventIntake

    async def start(self) -> None:
        """Start background work that needs the running loop (event delivery)."""
        await self.sink.start()
        await self.sessions.start()

    async def aclose(self) -> None:
        """Stop background work (refreshes, cache fills, event delivery after a last
        flush) and close the export's S3 client; the store and cache stay open (their
        opener owns them)."""
        await self.tracker.aclose()
        await self.aside.aclose()
        await self.sink.aclose()
        await self.sessions.aclose()
        await self.exports.aclose()


def build_graph(
    settings: Settings,
    store: ProfileStore,
    cache: Cache,
    *,
    exports: Callable[[SegmentService, Settings], ExportService] = ExportService,
) -> ServiceGraph:
    """The graph over ``store`` and ``cache``; ``exports`` builds the export service (tests
    give it their own AWS clients)."""
    # The L1 holds decoded values, so it pays even in front of the in-process cache
    # (bytes); with caching off there is nothing to be in front of.
    l1 = (ObjectLRU(settings.l1_entries)
          if settings.l1_entries and cache.name != "none" else None)
    aside = CacheAside(
        cache,
        prefix=settings.cache_prefix,
        ttl_s=settings.cache_ttl_s,
        jitter=settings.cache_ttl_jitter,
        negative_ttl_s=settings.negative_ttl_s,
        fetch_timeout_s=settings.store_timeout_s,
        l1=l1,
        l1_ttl_s=settings.l1_ttl_s,
    )
    tracker = GenerationTracker(
        store, refresh_s=settings.generation_refresh_s, timeout_s=settings.store_timeout_s
    )
    sessions = open_sessions(settings, cache)
    recommender = Recommender(
        store, aside, tracker, sessions, store_timeout_s=settings.store_timeout_s
    )
    sink = open_sink(settings)
    intake = EventIntake(sessions, sink)
    segments = SegmentService(store, tracker, store_timeout_s=settings.store_timeout_s)
    answers: Answers[rpb.RecommendResponse] = (
        RememberingAnswers(recommender, AnswerMemo(settings.l1_answers, settings.l1_ttl_s))
        if l1 is not None and settings.l1_answers
        else Answers(recommender)
    )
    metrics = Metrics()
    mirror = getattr(sessions, "mirror", None)
    store_counters = getattr(store, "counters", None)
    metrics.add_domain(
        {
            "cache": lambda: aside.counters,
            "recommend": lambda: recommender.counters,
            "track": lambda: intake.counters,
            "delivery": lambda: sink.counters,
            **({"store": lambda: store_counters} if store_counters is not None else {}),
            **({"session_mirror": lambda: mirror.counters} if mirror is not None else {}),
        },
        lambda: tracker.last_known.generation if tracker.last_known else None,
        {"delivery_buffered": ("Track events waiting for (or in flight to) Firehose",
                               lambda: sink.depth),
         "session_mirror_entries": ("shoppers' session values held while Redis reports "
                                    "them unchanged", lambda: len(mirror or ())),
         "catalogue_products": ("products whose category and stock are held in memory",
                                lambda: len(recommender.catalogue or ())),
         "catalogue_bytes": ("memory of the in-process catalogue facts",
                             lambda: recommender.catalogue.nbytes
                             if recommender.catalogue else 0)},
        lambda: (recommender.visibility.counts, recommender.visibility.total_s),
    )
    return ServiceGraph(
        store=store,
        cache=cache,
        aside=aside,
        tracker=tracker,
        recommender=recommender,
        segments=segments,
        exports=exports(segments, settings),
        answers=answers,
        metrics=metrics,
        health=DrainingHealthServicer(),
        requests=RequestContext(metrics, access_log=settings.access_log),
        sessions=sessions,
        sink=sink,
        intake=intake,
    )
