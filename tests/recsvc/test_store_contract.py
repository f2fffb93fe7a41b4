"""One ProfileStore contract, run over DynamoDB on moto, DynamoDB on dynalite, and in memory."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator

import pytest

from generation import FORMAT_VERSION, GenerationData, Pointer, ProductFacts, details, payloads
from loopback.ports import free_port
from recsvc.catalogue import InProcessCatalogue
from recsvc.errors import StoreUnavailable
from recsvc.settings import Settings
from recsvc.store import ProfileStore, open_store
from recsvc.store.dynamodb import BATCH_GET_LIMIT, DynamoProfileStore
from recsvc.store.memory import InMemoryProfileStore
from tests.conftest import create_table, dynamodb_client, unique
from tests.recsvc import seed

BACKENDS = ["moto", "dynalite", "memory"]


@pytest.fixture(scope="module")
def published(request: pytest.FixtureRequest) -> Iterator[dict[str, tuple[str, str]]]:
    """Per Dynamo backend, a table holding two generations (the second served). Seeded
    once per module: the tests only read."""
    tables: dict[str, tuple[str, str]] = {}
    yield tables
    for endpoint, table in tables.values():
        try:
            dynamodb_client(endpoint).delete_table(TableName=table)
        except Exception:
            pass


OLD = seed.sample_generation("20260101T000000Z-aaaaaa")
NEW = seed.sample_generation("20260102T000000Z-bbbbbb")


def _endpoint(request: pytest.FixtureRequest, backend: str) -> str:
    return str(request.getfixturevalue(f"{backend}_endpoint"))


@pytest.fixture(params=BACKENDS)
async def store(
    request: pytest.FixtureRequest, published: dict[str, tuple[str, str]]
) -> AsyncIterator[ProfileStore]:
    backend = request.param
    if backend == "memory":
        mem = InMemoryProfileStore()
        seed.load_memory(mem, OLD)
        seed.load_memory(mem, NEW)
        yield mem
        return
    endpoint = _endpoint(request, backend)
    if backend not in published:
        table = unique("contract")
        create_table(endpoint, table, ttl=backend == "moto")
        published[backend] = (endpoint, table)
        seed.publish_to(endpoint, table, OLD)
        seed.publish_to(endpoint, table, NEW)
    endpoint, table = published[backend]
    settings = Settings(dynamodb_endpoint_url=endpoint, table=table)
    async with await DynamoProfileStore.open(settings) as dyn:
        yield dyn


def _pointer(data: GenerationData) -> Pointer:
    return Pointer(data.manifest.generation, data.manifest.published_at, FORMAT_VERSION)


async def test_pointer_follows_the_last_publish(store: ProfileStore) -> None:
    assert await store.current_generation() == _pointer(NEW)


async def test_manifest_round_trips(store: ProfileStore) -> None:
    # The writer records how many catalogue parts and detail buckets it wrote (one each
    # for this small shop).
    written = dataclasses.replace(NEW.manifest, counts={
        **NEW.manifest.counts, "catalogue_parts": 1, "details_buckets": 1})
    assert await store.get_manifest(NEW.manifest.generation) == written
    assert await store.get_manifest("no-such-generation") is None


async def test_product_details_by_bucket(store: ProfileStore) -> None:
    gen = NEW.manifest.generation
    count = (await store.get_manifest(gen)).counts[details.DETAILS_BUCKETS]  # type: ignore[union-attr]
    wanted = details.buckets_of([seed.product(n) for n in range(seed.N_PRODUCTS)], count)
    got = await store.get_details(gen, [*wanted, 99])
    assert sorted(got) == wanted  # a bucket the generation lacks is simply absent
    found = {p: d for raw in got.values() for p, d in details.decode_bucket(raw).items()}
    assert found == {d.product_id: d for d in NEW.details or ()}
    assert await store.get_details("no-such-generation", wanted) == {}


async def test_profiles_batch_beyond_one_request_in_request_order(store: ProfileStore) -> None:
    gen = NEW.manifest.generation
    wanted = [seed.user(n) for n in reversed(range(seed.N_USERS))] + ["nobody", seed.user(5)]
    assert len(wanted) > BATCH_GET_LIMIT
    got = await store.get_profiles(gen, wanted)
    expected = {p.user_id: p for p in NEW.profiles}
    assert list(got) == [seed.user(n) for n in reversed(range(seed.N_USERS))]
    # The writer's bytes, exactly: what a cache fill copies.
    assert got == {u: payloads.encode_profile(expected[u]) for u in got}
    assert {u: payloads.decode_profile(raw) for u, raw in got.items()} == {
        u: expected[u] for u in got
    }
    assert await store.get_profiles(gen, []) == {}


async def test_items_are_per_generation(store: ProfileStore) -> None:
    assert await store.get_profiles("no-such-generation", [seed.user(1)]) == {}
    old = await store.get_profiles(OLD.manifest.generation, [seed.user(1)])
    assert set(old) == {seed.user(1)}


async def test_neighbours_and_popular(store: ProfileStore) -> None:
    gen = NEW.manifest.generation
    raw = await store.get_neighbours(gen, ["P007", "P001", "P999"])
    assert list(raw) == ["P007", "P001"]
    nbrs = {p: payloads.decode_neighbours(b) for p, b in raw.items()}
    assert nbrs["P007"].in_stock is False and nbrs["P001"].in_stock is True
    assert nbrs["P001"].category == seed.category_of("P001")
    assert nbrs["P001"] == next(n for n in NEW.neighbours if n.product_id == "P001")
    popular = await store.get_popular(gen, ["shoes", "", "socks"])
    assert list(popular) == ["shoes", ""]
    assert payloads.decode_popular(popular[""]) == next(p for p in NEW.popular if p.category == "")


async def test_facts_are_the_neighbours_items_category_and_stock(store: ProfileStore) -> None:
    gen = NEW.manifest.generation
    facts = await store.get_facts(gen, ["P999", "P013", "P002"])
    assert list(facts) == ["P013", "P002"]
    assert payloads.decode_facts(facts["P013"]) == ProductFacts(seed.category_of("P013"), False)
    assert payloads.decode_facts(facts["P002"]) == ProductFacts(seed.category_of("P002"), True)
    assert await store.get_facts(gen, []) == {}


async def test_catalogue_parts_hold_every_products_facts(store: ProfileStore) -> None:
    gen = NEW.manifest.generation
    catalogue = InProcessCatalogue.from_parts(gen, await store.get_catalogue(gen))
    # Generated without a catalogue: the writer published the neighbours' facts.
    expected = {n.product_id: n.facts for n in NEW.neighbours}
    assert len(catalogue) == len(expected) > 0
    assert {p: catalogue.get(p) for p in expected} == expected
    assert catalogue.get("P999") is None
    assert await store.get_catalogue("no-such-generation") == []


async def test_segment_pages_in_user_order_and_resume(store: ProfileStore) -> None:
    gen = NEW.manifest.generation
    expected = seed.members_of(NEW, "high_value")
    pages = [p async for p in store.iter_segment_members(gen, "high_value", page_size=50)]
    assert all(1 <= len(p) <= 50 for p in pages) and len(pages) >= 5
    assert [m for p in pages for m in p] == expected
    after = expected[99].user_id
    rest = [m async for p in store.iter_segment_members(gen, "high_value", page_size=7,
                                                        after_user_id=after) for m in p]
    assert rest == expected[100:]
    lapsed = [m async for p in store.iter_segment_members(gen, "lapsed", page_size=1000) for m in p]
    assert [m.user_id for m in lapsed] == ["u0001", "u0002", "u0003"]
    assert [p async for p in store.iter_segment_members(gen, "nope", page_size=10)] == []


async def test_closed_store_raises_store_unavailable(store: ProfileStore) -> None:
    await store.aclose()
    if isinstance(store, DynamoProfileStore):
        return  # the aioboto3 client is gone; its behaviour after close is not ours
    with pytest.raises(StoreUnavailable):
        await store.current_generation()


async def test_dynamo_unreachable_is_store_unavailable() -> None:
    settings = Settings(
        dynamodb_endpoint_url=f"http://127.0.0.1:{free_port()}", table="whatever",
        store_attempts=1,
    )
    store = await open_store(settings)
    try:
        with pytest.raises(StoreUnavailable):
            await store.current_generation()
        with pytest.raises(StoreUnavailable):
            await store.get_profiles("g", ["a", "b"])
        with pytest.raises(StoreUnavailable):
            [p async for p in store.iter_segment_members("g", "s", page_size=5)]
    finally:
        await store.aclose()


async def test_missing_table_is_store_unavailable(moto_endpoint: str) -> None:
    store = await open_store(Settings(dynamodb_endpoint_url=moto_endpoint, table="no-such-table"))
    try:
        with pytest.raises(StoreUnavailable, match="ResourceNotFound"):
            await store.current_generation()
    finally:
        await store.aclose()


async def test_unprocessed_keys_are_retried(moto_endpoint: str, table_factory) -> None:  # type: ignore[no-untyped-def]
    """moto, like DynamoDB, caps a BatchGetItem response at 16 MB and returns the rest
    as UnprocessedKeys: 60 profiles of ~300 KB need several rounds."""
    table = table_factory(moto_endpoint)
    client = dynamodb_client(moto_endpoint)
    from generation import Profile, layout

    big = tuple("x" * 1000 for _ in range(300))
    users = [f"big{n:03d}" for n in range(60)]
    for u in users:
        client.put_item(TableName=table, Item=layout.profile_item("g", Profile(u, segments=big)))
    async with await DynamoProfileStore.open(
        Settings(dynamodb_endpoint_url=moto_endpoint, table=table)
    ) as store:
        got = await store.get_profiles("g", users)
        assert store.counters["unprocessed_keys"] > 0
    assert list(got) == users
    assert all(len(payloads.decode_profile(p).segments) == 300 for p in got.values())
