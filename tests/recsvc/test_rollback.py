"""A rollback (profile_engine.generations) flips the pointer back; a running service
follows within its refresh period, and answers from the older generation again."""

from __future__ import annotations

import asyncio
import time

from profile_engine import generations
from profile_engine.publish import dynamodb_client
from recsvc.api.v1 import recommender_pb2 as rpb
from recsvc.api.v1 import recommender_pb2_grpc as rpb_grpc
from tests.recsvc import seed
from tests.recsvc.conftest import Published, StartServer


async def test_rollback_flips_back_and_the_service_follows(
    start_server: StartServer, published: Published, table_factory: object
) -> None:
    endpoint = published.endpoint
    table = table_factory(endpoint)  # type: ignore[operator]
    first, second = seed.sample_generation(), seed.sample_generation()
    seed.publish_to(endpoint, table, first)
    seed.publish_to(endpoint, table, second)
    r = await start_server(table=table, generation_refresh_s=0.05)
    stub = rpb_grpc.RecommenderStub(r.channel)
    assert (await stub.Info(rpb.InfoRequest(), timeout=5)).generation == second.manifest.generation

    client = dynamodb_client(seed.REGION, endpoint)
    entry = await asyncio.to_thread(generations.rollback, client, table)
    assert (entry.generation, entry.previous) == (
        first.manifest.generation, second.manifest.generation
    )
    deadline = time.monotonic() + 10
    while True:
        info = await stub.Info(rpb.InfoRequest(), timeout=5)
        answer = await stub.Recommend(rpb.RecommendRequest(user_id=seed.user(1), k=3), timeout=5)
        if info.generation == answer.generation == first.manifest.generation:
            break
        assert time.monotonic() < deadline, "the service did not follow the rollback"
        await asyncio.sleep(0.05)
    listed = generations.list_generations(client, table)
    assert [(g.generation, g.served, g.action) for g in listed] == [
        (first.manifest.generation, True, "rolled back"),
        (second.manifest.generation, False, "published"),
    ]
