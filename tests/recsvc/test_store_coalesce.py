"""A store miss is one BatchGetItem: keys asked for in the same loop turn (a call's profile
and context neighbours, concurrent calls) go to DynamoDB together, each asker gets its own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from generation import payloads
from recsvc.settings import Settings
from recsvc.store.dynamodb import DynamoProfileStore
from tests.conftest import create_table, unique
from tests.recsvc import seed

DATA = seed.sample_generation("20260105T000000Z-dddddd")
GEN = DATA.manifest.generation


@pytest.fixture
async def store(moto_endpoint: str) -> AsyncIterator[DynamoProfileStore]:
    table = unique("coalesce")
    create_table(moto_endpoint, table)
    seed.publish_to(moto_endpoint, table, DATA)
    settings = Settings(dynamodb_endpoint_url=moto_endpoint, table=table)
    async with await DynamoProfileStore.open(settings) as dyn:
        yield dyn


async def test_profile_and_neighbours_asked_together_are_one_request(
    store: DynamoProfileStore,
) -> None:
    before = store.counters["requests"]
    profiles, neighbours = await asyncio.gather(
        store.get_profiles(GEN, [seed.user(1), "nobody"]),
        store.get_neighbours(GEN, [seed.product(3), seed.product(4)]),
    )
    assert store.counters["requests"] == before + 1
    assert list(profiles) == [seed.user(1)]
    assert payloads.decode_profile(profiles[seed.user(1)]).user_id == seed.user(1)
    assert list(neighbours) == [seed.product(3), seed.product(4)]


async def test_concurrent_askers_share_keys_and_the_limit_splits_requests(
    store: DynamoProfileStore,
) -> None:
    users = [seed.user(n) for n in range(seed.N_USERS)]
    before = dict(store.counters)
    a, b = await asyncio.gather(store.get_profiles(GEN, users), store.get_profiles(GEN, users[:10]))
    assert list(a) == users and list(b) == users[:10]
    sent = store.counters["keys_sent"] - before.get("keys_sent", 0)
    assert sent == len(users)  # the ten asked twice went once
    assert store.counters["requests"] - before.get("requests", 0) == -(-len(users) // 100)


async def test_an_asker_that_stops_waiting_leaves_the_request_to_the_others(
    store: DynamoProfileStore,
) -> None:
    quitter = asyncio.create_task(store.get_profiles(GEN, [seed.user(2)]))
    stayer = asyncio.create_task(store.get_profiles(GEN, [seed.user(2), seed.user(3)]))
    await asyncio.sleep(0)
    quitter.cancel()
    got = await stayer
    assert list(got) == [seed.user(2), seed.user(3)]
    with pytest.raises(asyncio.CancelledError):
        await quitter
