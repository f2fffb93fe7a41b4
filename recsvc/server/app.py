"""Server assembly: build_server(settings, deps) for tests and serve()/main() for production."""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from recsvc.api.v1 import recommender_pb2, recommender_pb2_grpc, segments_pb2, segments_pb2_grpc
from recsvc.cache import Cache, open_cache
from recsvc.cache.aside import CacheAside
from recsvc.errors import StoreUnavailable
from recsvc.generation import GenerationTracker
from recsvc.observability import configure_logging
from recsvc.recommender import Recommender
from recsvc.segments import SegmentService
from recsvc.server.interceptors import (
    ErrorInterceptor,
    RequestContextInterceptor,
    SegmentAuthInterceptor,
)
from recsvc.server.servicers import RecommenderServicer, SegmentsServicer
from recsvc.settings import Settings
from recsvc.store import ProfileStore, open_store

__all__ = ["SERVICE_NAMES", "Deps", "build_server", "main", "serve"]

log = logging.getLogger(__name__)

RECOMMENDER = recommender_pb2.DESCRIPTOR.services_by_name["Recommender"].full_name
SEGMENTS = segments_pb2.DESCRIPTOR.services_by_name["Segments"].full_name
SERVICE_NAMES = (RECOMMENDER, SEGMENTS)


@dataclass
class Deps:
    """The object graph behind the servicers. Tests pass their own store and cache; the
    domain objects are built from them by ``build_server`` unless given."""

    store: ProfileStore
    cache: Cache
    health: health_aio.HealthServicer = field(default_factory=health_aio.HealthServicer)
    aside: CacheAside | None = None
    tracker: GenerationTracker | None = None
    recommender: Recommender | None = None
    segments: SegmentService | None = None
    requests: RequestContextInterceptor = field(default_factory=RequestContextInterceptor)

    def complete(self, settings: Settings) -> None:
        self.aside = self.aside or CacheAside(
            self.cache,
            prefix=settings.cache_prefix,
            ttl_s=settings.cache_ttl_s,
            jitter=settings.cache_ttl_jitter,
            negative_ttl_s=settings.negative_ttl_s,
            fetch_timeout_s=settings.store_timeout_s,
        )
        self.tracker = self.tracker or GenerationTracker(
            self.store, refresh_s=settings.generation_refresh_s, timeout_s=settings.store_timeout_s
        )
        self.recommender = self.recommender or Recommender(
            self.store, self.aside, self.tracker, store_timeout_s=settings.store_timeout_s
        )
        self.segments = self.segments or SegmentService(
            self.store, self.tracker, store_timeout_s=settings.store_timeout_s
        )

    async def aclose(self) -> None:
        """Stop background work (refreshes, cache fills); the store and cache stay open."""
        if self.tracker is not None:
            await self.tracker.aclose()
        if self.aside is not None:
            await self.aside.aclose()


async def build_server(settings: Settings, deps: Deps) -> tuple[grpc.aio.Server, int]:
    """A configured, not yet started server bound to settings.host:settings.port (0 picks
    a free port); returns it with the bound port."""
    deps.complete(settings)
    assert deps.recommender is not None and deps.segments is not None
    tokens = settings.segment_token_list
    if not tokens:
        log.warning("RECSVC_SEGMENT_TOKENS is empty: every Segments call will be refused")
    server = grpc.aio.server(
        interceptors=[
            deps.requests,  # outermost: sees the final status of every call
            ErrorInterceptor(),
            SegmentAuthInterceptor(tokens, SEGMENTS),
        ],
        # Two processes must never share a port by accident (tests bind port 0).
        options=[("grpc.so_reuseport", 0)],
    )
    recommender_pb2_grpc.add_RecommenderServicer_to_server(
        RecommenderServicer(deps.recommender), server
    )
    segments_pb2_grpc.add_SegmentsServicer_to_server(SegmentsServicer(deps.segments), server)
    health_pb2_grpc.add_HealthServicer_to_server(deps.health, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
         reflection.SERVICE_NAME),
        server,
    )
    for name in ("", *SERVICE_NAMES):
        await deps.health.set(name, health_pb2.HealthCheckResponse.SERVING)
    port = server.add_insecure_port(f"{settings.host}:{settings.port}")
    if port == 0:
        raise OSError(f"cannot bind {settings.host}:{settings.port}")
    return server, port


async def serve(settings: Settings) -> None:
    """Run until SIGTERM/SIGINT, then drain: health NOT_SERVING first (clients move
    away), then stop accepting and let in-flight calls finish within grace_s, then
    close the clients. Everything opened here is owned by one AsyncExitStack."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()

    def on_signal(sig: signal.Signals) -> None:
        if stopping.is_set():
            log.warning("%s again: already draining", sig.name)
        else:
            log.info("%s received: draining", sig.name)
        stopping.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)

    async with AsyncExitStack() as stack:
        store = await open_store(settings)
        stack.push_async_callback(store.aclose)
        cache = await open_cache(settings)
        stack.push_async_callback(cache.aclose)
        log.info("profile store: %s; cache: %s", settings.store, cache.name)
        deps = Deps(store, cache)
        server, port = await build_server(settings, deps)
        # LIFO: background work stops after the server and before the clients close.
        stack.push_async_callback(deps.aclose)
        await server.start()
        stack.push_async_callback(server.stop, None)  # on errors; a second stop is a no-op
        address = f"{settings.host}:{port}"
        print(f"recsvc listening on {address}", flush=True)
        log.info("listening on %s", address)
        assert deps.recommender is not None
        try:
            await deps.recommender.warm()
        except StoreUnavailable as exc:
            log.warning("could not warm up from the store (%s); serving anyway", exc)

        await stopping.wait()
        # Health first so health-checking clients and load balancers stop routing to us
        # before we stop accepting calls.
        await deps.health.enter_graceful_shutdown()
        log.info(
            "health NOT_SERVING; stopping in %.1fs, then draining %d in-flight calls "
            "(grace %.1fs)", settings.drain_delay_s, deps.requests.in_flight, settings.grace_s,
        )
        await asyncio.sleep(settings.drain_delay_s)
        await server.stop(settings.grace_s)
        log.info("server stopped; closing clients")
    log.info("shut down cleanly")


def main(settings: Settings | None = None) -> None:
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level)
    asyncio.run(serve(settings))
