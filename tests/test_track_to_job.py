"""The same events feed the nightly job: Track -> Firehose (moto, S3 destination under the
job's event root) -> the next `profile-engine run` counts them, known and anonymous."""

from __future__ import annotations

import subprocess
import sys

import grpc

from generation import layout, payloads
from loopback.aws import create_delivery_stream
from loopback.waiting import wait_until
from recsvc.api.v1 import recommender_pb2 as rpb
from recsvc.api.v1 import recommender_pb2_grpc as rgrpc
from recsvc.cache import open_cache
from recsvc.server.app import build_server
from recsvc.server.graph import build_graph
from recsvc.settings import Settings
from recsvc.store import open_store
from tests.conftest import dynamodb_client, unique
from tests.test_end_to_end import job_env, run_job

KNOWN = 30  # view events of known customers
ANONYMOUS = 7  # view events of anonymous sessions


def input_counts(endpoint: str, table: str, generation: str) -> dict[str, int]:
    item = dynamodb_client(endpoint).get_item(
        TableName=table, Key=layout.manifest_key(generation))["Item"]
    return dict(payloads.decode_manifest(layout.payload(item)).counts)


async def test_tracked_events_reach_the_next_run(
    moto_endpoint: str, s3_bucket: str, pg_url: str, moto_table: str, redis_url: str,
    cache_prefix: str,
) -> None:
    env = job_env(moto_endpoint, s3_bucket, pg_url, moto_table, scheduler="")
    env.pop("PROFILE_ENGINE_SCHEDULER")  # the job's own local cluster
    subprocess.run(
        [sys.executable, "-m", "profile_engine", "generate", "--users", "200",
         "--products", "80", "--days", "10", "--seed", "5"],
        env=env, check=True, capture_output=True, timeout=120,
    )
    first = run_job(env)
    stream = unique("track")
    create_delivery_stream(moto_endpoint, stream, s3_bucket, "events/firehose/")  # job input
    settings = Settings(
        host="127.0.0.1", port=0, table=moto_table, dynamodb_endpoint_url=moto_endpoint,
        cache="redis", redis_url=redis_url, cache_prefix=cache_prefix, store_timeout_s=5.0,
        firehose_stream=stream, firehose_endpoint_url=moto_endpoint, firehose_flush_s=0.1,
    )
    store = await open_store(settings)
    cache = await open_cache(settings)
    graph = build_graph(settings, store, cache)
    server, port = await build_server(settings, graph)
    await graph.start()
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        rec = rgrpc.RecommenderStub(channel)
        product = (await rec.Recommend(rpb.RecommendRequest(user_id="u000001", k=1),
                                       timeout=5)).items[0].product_id
        events = [rpb.Event(event_id=unique("e"), event_type=rpb.VIEW, product_id=product,
                            user_id=f"u{n % 50:06d}") for n in range(KNOWN)]
        events += [rpb.Event(event_id=unique("e"), event_type=rpb.VIEW, product_id=product,
                             session_id=f"visitor-{n}") for n in range(ANONYMOUS)]
        reply = await rec.Track(rpb.TrackRequest(events=events), timeout=5)
        assert {s.outcome for s in reply.statuses} == {rpb.EventStatus.ACCEPTED}
        again = await rec.Track(rpb.TrackRequest(events=events[:5]), timeout=5)
        assert {s.outcome for s in again.statuses} == {rpb.EventStatus.DUPLICATE}
        await wait_until(lambda: graph.sink.counters["sent"] == KNOWN + ANONYMOUS, 10,
                         "Firehose to take every accepted event")
    finally:
        await channel.close()
        await server.stop(None)
        await graph.aclose()
        await cache.aclose()
        await store.aclose()

    second = run_job(env)
    before = input_counts(moto_endpoint, moto_table, first)
    after = input_counts(moto_endpoint, moto_table, second)
    # Anonymous events are valid input too (counted apart: they build no profile).
    assert after["input_events_valid"] - before["input_events_valid"] == KNOWN + ANONYMOUS
    assert after["input_events_anonymous"] - before.get("input_events_anonymous", 0) == ANONYMOUS
