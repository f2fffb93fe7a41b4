"""Server assembly: build_server(settings, graph) for tests and serve()/main() for production."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from contextlib import AsyncExitStack

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from recsvc.api.v1 import recommender_pb2, recommender_pb2_grpc, segments_pb2, segments_pb2_grpc
from recsvc.cache import open_cache
from recsvc.errors import StoreUnavailable
from recsvc.observability import configure_logging
from recsvc.server import supervisor
from recsvc.server.drain import stop_server
from recsvc.server.graph import ServiceGraph, build_graph
from recsvc.server.interceptors import AccessRule, interceptor
from recsvc.server.servicers import RecommenderServicer, SegmentsServicer
from recsvc.settings import Settings
from recsvc.store import open_store

__all__ = ["SERVICE_NAMES", "build_server", "main", "serve", "settle_heap"]

log = logging.getLogger(__name__)

RECOMMENDER = recommender_pb2.DESCRIPTOR.services_by_name["Recommender"].full_name
SEGMENTS = segments_pb2.DESCRIPTOR.services_by_name["Segments"].full_name
SERVICE_NAMES = (RECOMMENDER, SEGMENTS)


async def build_server(settings: Settings, graph: ServiceGraph) -> tuple[grpc.aio.Server, int]:
    """A configured, not yet started server over ``graph`` bound to
    settings.host:settings.port (0 picks a free port); returns it with the bound port."""
    names = settings.client_cert_name_list
    if not settings.segment_token_list and not names:
        log.warning("RECSVC_SEGMENT_TOKENS is empty: every Segments call will be refused")
    rules = [
        AccessRule(SEGMENTS, settings.segment_token_list, names, required=True),
        AccessRule(RECOMMENDER, settings.recommend_token_list,
                   names if settings.recommend_token_list else (), required=False),
    ]
    server = grpc.aio.server(
        interceptors=[interceptor(graph.requests, rules)],
        options=[
            # Two processes share a port only when asked to (workers > 1); tests bind
            # port 0 and must never land on another server's port.
            ("grpc.so_reuseport", 1 if settings.workers > 1 else 0),
            # Requests are small: refuse big ones before parsing them.
            ("grpc.max_receive_message_length", settings.max_request_bytes),
            ("grpc.max_metadata_size", settings.max_metadata_bytes),
            *concurrency_options(settings.max_concurrent_streams),
        ],
    )
    recommender_pb2_grpc.add_RecommenderServicer_to_server(
        RecommenderServicer(graph.recommender, graph.answers, graph.intake,
                            settings.max_track_bytes), server
    )
    segments_pb2_grpc.add_SegmentsServicer_to_server(
        SegmentsServicer(graph.segments, graph.exports), server
    )
    health_pb2_grpc.add_HealthServicer_to_server(graph.health, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
         reflection.SERVICE_NAME),
        server,
    )
    for name in ("", *SERVICE_NAMES):
        await graph.health.set(name, health_pb2.HealthCheckResponse.SERVING)
    address = f"{settings.host}:{settings.port}"
    if settings.tls_cert_file and settings.tls_key_file:
        credentials = server_credentials(
            settings.tls_cert_file, settings.tls_key_file, settings.tls_client_ca_file
        )
        port = server.add_secure_port(address, credentials)
    else:
        port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot bind {settings.host}:{settings.port}")
    return server, port


def concurrency_options(max_concurrent_streams: int) -> list[tuple[str, int]]:
    """HTTP/2 MAX_CONCURRENT_STREAMS, so bursts wait in the client. Without it grpc core
    accepts every call a client starts and queues the ones the server has not picked up
    yet; past 1,000 queued it drops them at random (all past 3,000): CANCELLED at the
    client. The Python server picks calls up one at a time, so one client's burst of a
    few thousand calls on one connection is enough (README, "Calling from a BFF")."""
    if max_concurrent_streams <= 0:
        return []
    return [("grpc.max_concurrent_streams", max_concurrent_streams)]


def server_credentials(
    cert_file: str, key_file: str, client_ca_file: str | None
) -> grpc.ServerCredentials:
    """TLS from PEM files; with a client CA, clients must present a certificate it
    signed (mTLS)."""

    def read(path: str) -> bytes:
        with open(path, "rb") as f:
            return f.read()

    ca = read(client_ca_file) if client_ca_file else None
    return grpc.ssl_server_credentials(
        [(read(key_file), read(cert_file))],
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
        graph = build_graph(settings, store, cache)
        server, port = await build_server(settings, graph)
        if settings.metrics_port:
            graph.metrics.serve(settings.host, settings.metrics_port + supervisor.worker_index())
            stack.callback(graph.metrics.close)
        # LIFO: background work (and the export's S3 client) stops after the server and
        # before the clients close.
        stack.push_async_callback(graph.aclose)
        await graph.start()
        await server.start()
        stack.push_async_callback(server.stop, None)  # on errors; a second stop is a no-op
        address = f"{settings.host}:{port}"
        # One write: workers share stdout, and print() writes the newline separately
        # when unbuffered (two workers' lines once ran together).
        print(f"recsvc listening on {address}\n", end="", flush=True)
        log.info("listening on %s", address)
        try:
            await graph.recommender.warm()
        except StoreUnavailable as exc:
            log.warning("could not warm up from the store (%s); serving anyway", exc)
        settle_heap()

        await stopping.wait()
        # Health first so health-checking clients and load balancers stop routing to us
        # before we stop accepting calls.
        await graph.health.enter_graceful_shutdown()
        log.info(
            "health NOT_SERVING; stopping in %.1fs, then draining %d in-flight calls "
            "(grace %.1fs)", settings.drain_delay_s, graph.requests.in_flight, settings.grace_s,
        )
        await asyncio.sleep(settings.drain_delay_s)
        await stop_server(server, lambda: graph.requests.in_flight, settings.grace_s)
        log.info("server stopped; closing clients")
    log.info("shut down cleanly")


def settle_heap() -> None:
    """Hide what start-up allocated (imports, clients, warm-up) from the garbage
    collector. A full collection of a started service walks ~100,000 long-lived objects
    and stops every call for ~60 ms (200 ms in a test process): a missed deadline.
    Frozen, a full collection walks only what serving allocated since."""
    gc.collect()
    gc.freeze()


def main(settings: Settings | None = None) -> None:
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level)
    supervisor.run(settings, serve)
