"""A generation published by DynamoDB import lives in a table of its own: the service reads
the pointer in the fixed table and the items in the table it names, serves them, and
follows a rollback from one table to another (a running server on the real moto server);
the store's reads of another table pass dynalite's strict checks too."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import pytest

from generation import layout, payloads
from profile_engine import generations, publish
from recsvc.api.v1 import recommender_pb2 as rpb
from recsvc.api.v1 import recommender_pb2_grpc as rpb_grpc
from recsvc.api.v1 import segments_pb2 as spb
from recsvc.api.v1 import segments_pb2_grpc as spb_grpc
from recsvc.settings import Settings
from recsvc.store.dynamodb import DynamoProfileStore
from tests.conftest import dynamodb_client
from tests.recsvc import seed
from tests.recsvc.conftest import Published, Running, StartServer, auth


@pytest.fixture
def fixed(published: Published, table_factory: Callable[..., str]) -> Iterator[str]:
    table = table_factory(published.endpoint)
    yield table
    seed.drop_generation_tables(published.endpoint, table)


async def _answers(r: Running) -> tuple[str, str, rpb.RecommendResponse]:
    stub = rpb_grpc.RecommenderStub(r.channel)
    info = await stub.Info(rpb.InfoRequest(), timeout=5)
    answer = await stub.Recommend(rpb.RecommendRequest(user_id=seed.user(1), k=3), timeout=5)
    return info.generation, answer.generation, answer


async def test_the_service_serves_a_generation_published_by_import(
    start_server: StartServer, published: Published, fixed: str, s3_bucket: str
) -> None:
    data = seed.sample_generation()
    report, figures = await asyncio.to_thread(
        seed.import_to, published.endpoint, fixed, data, s3_bucket)
    assert figures.table == f"{fixed}-gen-{report.generation}"
    r = await start_server(table=fixed)
    info, generation, answer = await _answers(r)
    assert info == generation == report.generation
    assert answer.source == rpb.SOURCE_STORE
    profile = next(p for p in data.profiles if p.user_id == seed.user(1))
    assert [i.product_id for i in answer.items] == [
        i.product_id for i in profile.recommendations if i.product_id not in profile.purchased
    ][:3]
    similar = await rpb_grpc.RecommenderStub(r.channel).SimilarItems(
        rpb.SimilarItemsRequest(product_ids=[seed.product(4)], k=3), timeout=5)
    assert similar.items and similar.generation == report.generation
    members = [m async for m in spb_grpc.SegmentsStub(r.channel).Segment(
        spb.SegmentRequest(name="lapsed"), timeout=5, metadata=auth())]
    assert [m.user_id for m in members] == [seed.user(n) for n in (1, 2, 3)]


async def test_rollback_across_tables_and_the_service_follows(
    start_server: StartServer, published: Published, fixed: str, s3_bucket: str
) -> None:
    endpoint = published.endpoint
    written = seed.sample_generation()
    seed.publish_to(endpoint, fixed, written)  # the fixed table holds this one
    imported, _ = await asyncio.to_thread(
        seed.import_to, endpoint, fixed, seed.sample_generation(), s3_bucket)
    r = await start_server(table=fixed, generation_refresh_s=0.05)
    assert (await _answers(r))[:2] == (imported.generation, imported.generation)

    client = dynamodb_client(endpoint)
    for to in (written.manifest.generation, imported.generation):
        await asyncio.to_thread(generations.rollback, client, fixed, to)
        deadline = time.monotonic() + 10
        while (await _answers(r))[:2] != (to, to):
            assert time.monotonic() < deadline, f"the service did not follow to {to}"
            await asyncio.sleep(0.05)
        answer = (await _answers(r))[2]
        assert answer.source in (rpb.SOURCE_STORE, rpb.SOURCE_CACHE) and answer.items


@pytest.mark.parametrize("backend", ["moto", "dynalite"])
async def test_the_store_reads_the_table_the_pointer_names(
    backend: str, request: pytest.FixtureRequest, table_factory: Callable[..., str]
) -> None:
    # dynalite has no ImportTable: the generation is written into a table of its own, and
    # the fixed table's manifest and pointer name it, as an import leaves them.
    endpoint = str(request.getfixturevalue(f"{backend}_endpoint"))
    fixed, items_table = (table_factory(endpoint, ttl=backend == "moto") for _ in range(2))
    data = seed.sample_generation()
    gen = data.manifest.generation
    client = dynamodb_client(endpoint)
    publish.publish(client, items_table, data, ttl_days=1)
    client.put_item(TableName=fixed, Item=layout.manifest_item(data.manifest, None, items_table))
    publish.flip_pointer(client, fixed, gen, data.manifest.published_at, None,
                         data.manifest.format_version, items_table)

    settings = Settings(table=fixed, dynamodb_endpoint_url=endpoint, aws_region=seed.REGION)
    async with await DynamoProfileStore.open(settings) as store:
        # Asked before the pointer was read (recsvc show --generation): the manifest says.
        assert list(await store.get_neighbours(gen, [seed.product(3)])) == [seed.product(3)]
        pointer = await store.current_generation()
        assert pointer is not None and (pointer.generation, pointer.table) == (gen, items_table)
        assert (await store.get_manifest(gen)) == data.manifest
        profiles = await store.get_profiles(gen, [seed.user(1), "nobody"])
        assert list(profiles) == [seed.user(1)]
        assert payloads.decode_profile(profiles[seed.user(1)]).user_id == seed.user(1)
        assert set(await store.get_facts(gen, [seed.product(2)])) == {seed.product(2)}
        assert list(await store.get_popular(gen, [""])) == [""]
        assert len(await store.get_catalogue(gen)) == 1
        pages = [p async for p in store.iter_segment_members(gen, "lapsed", page_size=2)]
        assert [m.user_id for p in pages for m in p] == [seed.user(n) for n in (1, 2, 3)]
