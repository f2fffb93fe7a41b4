"""The whole path: generate -> profile job (real Dask scheduler + workers) -> DynamoDB (moto)
-> recsvc (gRPC, Redis cache). A publish killed halfway never reaches readers: the service
keeps answering from the previous generation, then moves on when a run completes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import grpc
import pytest

from generation import layout
from loopback.dask_cluster import dask_cluster
from recsvc.api.v1 import recommender_pb2 as rpb
from recsvc.api.v1 import recommender_pb2_grpc as rgrpc
from recsvc.api.v1 import segments_pb2 as spb
from recsvc.api.v1 import segments_pb2_grpc as sgrpc
from recsvc.cache import open_cache
from recsvc.server.app import build_server
from recsvc.server.graph import build_graph
from recsvc.settings import Settings
from recsvc.store import open_store
from tests.conftest import dynamodb_client

TOKEN = "e2e-token"


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    with dask_cluster(n_workers=2) as address:
        yield address


def job_env(
    moto_endpoint: str, bucket: str, pg_url: str, table: str, scheduler: str
) -> dict[str, str]:
    return {
        **os.environ,
        "PROFILE_ENGINE_EVENTS": f"s3://{bucket}/events",
        "PROFILE_ENGINE_REPLICA_URL": pg_url,
        "PROFILE_ENGINE_TABLE": table,
        "PROFILE_ENGINE_DYNAMODB_ENDPOINT_URL": moto_endpoint,
        "PROFILE_ENGINE_S3_ENDPOINT_URL": moto_endpoint,
        "PROFILE_ENGINE_SCHEDULER": scheduler,
    }


def run_job(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "profile_engine", "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split("published generation ")[1].split()[0]


def kill_during_publish(env: dict[str, str]) -> str:
    """Start a run and SIGKILL it right after its profiles are written: the generation is
    half in DynamoDB (no segments, no manifest) and the pointer was never touched."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "profile_engine", "run", "--verbose"],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stderr is not None
    seen = []
    try:
        for line in proc.stderr:
            seen.append(line)
            if "profiles items of generation" in line:
                proc.kill()
                return line.split("generation ")[-1].strip()
        raise AssertionError("the run ended before publishing profiles:\n" + "".join(seen[-30:]))
    finally:
        proc.kill()
        proc.wait(30)


async def test_interrupted_publish_keeps_the_previous_generation_served(
    moto_endpoint: str,
    s3_bucket: str,
    pg_url: str,
    moto_table: str,
    cluster: str,
    redis_url: str,
    cache_prefix: str,
) -> None:
    env = job_env(moto_endpoint, s3_bucket, pg_url, moto_table, cluster)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "profile_engine",
            "generate",
            "--users",
            "400",
            "--products",
            "120",
            "--days",
            "14",
            "--seed",
            "11",
        ],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    first = run_job(env)

    settings = Settings(
        host="127.0.0.1",
        port=0,
        table=moto_table,
        dynamodb_endpoint_url=moto_endpoint,
        cache="redis",
        redis_url=redis_url,
        cache_prefix=cache_prefix,
        generation_refresh_s=0.1,
        segment_tokens=TOKEN,
        # moto shares the test process's GIL: allow for a stalled request.
        store_timeout_s=5.0,
    )
    store = await open_store(settings)
    cache = await open_cache(settings)
    graph = build_graph(settings, store, cache)
    server, port = await build_server(settings, graph)
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        rec = rgrpc.RecommenderStub(channel)
        seg = sgrpc.SegmentsStub(channel)
        auth = (("authorization", f"Bearer {TOKEN}"),)
        members = [
            m
            async for m in seg.Segment(
                spb.SegmentRequest(name="high_value", limit=3), metadata=auth
            )
        ]
        user = members[0].user_id

        async def recommend() -> rpb.RecommendResponse:
            return await rec.Recommend(rpb.RecommendRequest(user_id=user, k=5), timeout=5)

        before = await recommend()
        assert before.generation == first and before.source == rpb.SOURCE_STORE
        assert len(before.items) == 5

        half = kill_during_publish(env)
        assert half != first
        ddb = dynamodb_client(moto_endpoint)
        # The killed run really wrote part of its generation...
        assert "Item" in ddb.get_item(TableName=moto_table, Key=layout.profile_key(half, user))
        # ...but never its manifest, and never moved the pointer.
        assert "Item" not in ddb.get_item(TableName=moto_table, Key=layout.manifest_key(half))
        pointer = ddb.get_item(TableName=moto_table, Key=layout.pointer_key())["Item"]
        assert layout.decode_pointer(pointer).generation == first

        # Many pointer refreshes later, every answer still comes from the first generation.
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            answer = await recommend()
            assert answer.generation == first
            assert [i.product_id for i in answer.items] == [i.product_id for i in before.items]
            info = await rec.Info(rpb.InfoRequest(), timeout=5)
            assert info.generation == first
            await asyncio.sleep(0.05)

        # A run that completes is picked up within the refresh period, from the store
        # (cache keys carry the generation, so nothing of the first one is reused).
        third = run_job(env)
        assert third not in (first, half)
        deadline = time.monotonic() + 10
        while (answer := await recommend()).generation != third:
            assert answer.generation == first
            assert time.monotonic() < deadline, "the service never moved to the new generation"
            await asyncio.sleep(0.05)
        assert answer.source == rpb.SOURCE_STORE
    finally:
        await channel.close()
        await server.stop(None)
        await graph.aclose()
        await cache.aclose()
        await store.aclose()
