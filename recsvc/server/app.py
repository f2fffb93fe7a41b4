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

from recsvc.answers import AnswerMemo, Answers, RememberingAnswers
from recsvc.api.v1 import recommender_pb2, recommender_pb2_grpc, segments_pb2, segments_pb2_grpc
from recsvc.cache import Cache, open_cache
from recsvc.cache.aside import CacheAside
from recsvc.cache.memory import ObjectLRU
from recsvc.errors import StoreUnavailable
from recsvc.export.service import ExportService
from recsvc.generation import GenerationTracker
from recsvc.metrics import Metrics
from recsvc.observability import configure_logging
from recsvc.recommender import Recommender
from recsvc.segments import SegmentService
from recsvc.server import supervisor
from recsvc.server.interceptors import AccessRule, RequestContext, interceptor
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
    # Opens its S3 client on the first s3:// export; closed by aclose().
    exports: ExportService | None = None
    metrics: Metrics = field(default_factory=Metrics)
    requests: RequestContext | None = None
    answers: Answers[recommender_pb2.RecommendResponse] | None = None

    def complete(self, settings: Settings) -> None:
        # The L1 holds decoded values, so it pays even in front of the in-process cache
        # (bytes); with caching off there is nothing to be in front of.
        l1 = (ObjectLRU(settings.l1_entries)
              if settings.l1_entries and self.cache.name != "none" else None)
        self.aside = self.aside or CacheAside(
            self.cache,
            prefix=settings.cache_prefix,
            ttl_s=settings.cache_ttl_s,
            jitter=settings.cache_ttl_jitter,
            negative_ttl_s=settings.negative_ttl_s,
            fetch_timeout_s=settings.store_timeout_s,
            l1=l1,
            l1_ttl_s=settings.l1_ttl_s,
        )
        self.tracker = self.tracker or GenerationTracker(
            self.store, refresh_s=settings.generation_refresh_s, timeout_s=settings.store_timeout_s
        )
        self.recommender = self.recommender or Recommender(
            self.store, self.aside, self.tracker, store_timeout_s=settings.store_timeout_s
        )
        self.answers = self.answers or (
            RememberingAnswers(
                self.recommender, AnswerMemo(settings.l1_answers, settings.l1_ttl_s)
            )
            if l1 is not None and settings.l1_answers
            else Answers(self.recommender)
        )
        self.segments = self.segments or SegmentService(
            self.store, self.tracker, store_timeout_s=settings.store_timeout_s
        )
        self.exports = self.exports or ExportService(self.segments, settings)
        self.requests = self.requests or RequestContext(
            self.metrics, access_log=settings.access_log
        )
        aside, recommender, tracker = self.aside, self.recommender, self.tracker
        store_counters = getattr(self.store, "counters", None)
        self.metrics.add_domain(
            {
                "cache": lambda: aside.counters,
                "recommend": lambda: recommender.counters,
                **({"store": lambda: store_counters} if store_counters is not None else {}),
            },
            lambda: tracker.last_known[0] if tracker.last_known else None,
        )

    async def aclose(self) -> None:
        """Stop background work (refreshes, cache fills) and close the export's S3 client;
        the store and cache stay open (their opener owns them)."""
        if self.tracker is not None:
            await self.tracker.aclose()
        if self.aside is not None:
            await self.aside.aclose()
        if self.exports is not None:
            await self.exports.aclose()


async def build_server(settings: Settings, deps: Deps) -> tuple[grpc.aio.Server, int]:
    """A configured, not yet started server bound to settings.host:settings.port (0 picks
    a free port); returns it with the bound port."""
    deps.complete(settings)
    assert deps.recommender is not None and deps.segments is not None
    assert deps.exports is not None and deps.answers is not None
    assert deps.requests is not None
    names = settings.client_cert_name_list
    if not settings.segment_token_list and not names:
        log.warning("RECSVC_SEGMENT_TOKENS is empty: every Segments call will be refused")
    rules = [
        AccessRule(SEGMENTS, settings.segment_token_list, names, required=True),
        AccessRule(RECOMMENDER, settings.recommend_token_list,
                   names if settings.recommend_token_list else (), required=False),
    ]
    server = grpc.aio.server(
        interceptors=[interceptor(deps.requests, rules)],
        options=[
            # Two processes share a port only when asked to (workers > 1); tests bind
            # port 0 and must never land on another server's port.
            ("grpc.so_reuseport", 1 if settings.workers > 1 else 0),
            # Requests are small: refuse big ones before parsing them.
            ("grpc.max_receive_message_length", settings.max_request_bytes),
            ("grpc.max_metadata_size", settings.max_metadata_bytes),
        ],
    )
    recommender_pb2_grpc.add_RecommenderServicer_to_server(
        RecommenderServicer(deps.recommender, deps.answers), server
    )
    segments_pb2_grpc.add_SegmentsServicer_to_server(
        SegmentsServicer(deps.segments, deps.exports), server
    )
    health_pb2_grpc.add_HealthServicer_to_server(deps.health, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
         reflection.SERVICE_NAME),
        server,
    )
    for name in ("", *SERVICE_NAMES):
        await deps.health.set(name, health_pb2.HealthCheckResponse.SERVING)
    address = f"{settings.host}:{settings.port}"
    if settings.tls_cert_file and settings.tls_key_file:
        port = server.add_secure_port(address, server_credentials(settings))
    else:
        port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot bind {settings.host}:{settings.port}")
    return server, port


def server_credentials(settings: Settings) -> grpc.ServerCredentials:
    """TLS from the PEM files in settings; with a client CA, clients must present a
    certificate it signed (mTLS)."""
    assert settings.tls_cert_file and settings.tls_key_file

    def read(path: str) -> bytes:
        with open(path, "rb") as f:
            return f.read()

    ca = read(settings.tls_client_ca_file) if settings.tls_client_ca_file else None
    return grpc.ssl_server_credentials(
        [(read(settings.tls_key_file), read(settings.tls_cert_file))],
        root_certificates=ca,
        require_client_auth=ca is not None,
    )


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
        if settings.metrics_port:
            deps.metrics.serve(settings.host, settings.metrics_port + supervisor.worker_index())
            stack.callback(deps.metrics.close)
        # LIFO: background work (and the export's S3 client) stops after the server and
        # before the clients close.
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
        assert deps.requests is not None
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
    supervisor.run(settings, serve)
