"""The catalogue's facts: published in parts under DynamoDB's item limit, held compactly."""

from __future__ import annotations

import random

from generation import CatalogueFacts, GenerationData, Manifest, ProductFacts, layout
from profile_engine.publish import publish
from recsvc.catalogue import InProcessCatalogue
from recsvc.settings import Settings
from recsvc.store.dynamodb import DynamoProfileStore
from tests.conftest import dynamodb_client

CATEGORIES = tuple(f"category {n:03d}" for n in range(300))


def big_catalogue(n: int = 40_000) -> CatalogueFacts:
    rng = random.Random(3)
    return CatalogueFacts(
        CATEGORIES,
        [f"SKU-{i:08d}-{rng.randrange(10**6):06d}" for i in range(n)],
        [rng.randrange(len(CATEGORIES)) for _ in range(n)],
        [rng.random() > 0.1 for _ in range(n)],
    )


def test_parts_stay_under_the_item_limit_and_hold_every_product() -> None:
    facts = big_catalogue()
    items = list(layout.catalogue_items("g1", facts))
    assert len(items) > 1
    assert all(len(layout.payload(i)) < 256 * 1024 for i in items)
    assert [i[layout.SK]["S"] for i in items] == [f"part#{n:05d}" for n in range(len(items))]
    catalogue = InProcessCatalogue.from_parts("g1", [layout.payload(i) for i in items])
    assert len(catalogue) == len(facts)
    for pid, code, stock in zip(facts.product_ids, facts.category_codes, facts.in_stock,
                                strict=True):
        assert catalogue.get(pid) == ProductFacts(CATEGORIES[code], stock)
    assert catalogue.get("SKU-unknown") is None
    # 12 bytes a product: 12 MB per million.
    assert catalogue.nbytes == 12 * len(facts)


async def test_a_published_catalogue_is_read_back_whole(
    moto_table: str, moto_endpoint: str
) -> None:
    facts = big_catalogue(30_000)
    manifest = Manifest("20260103T000000Z-cccccc", "2026-01-03T00:00:00Z")
    report = publish(dynamodb_client(moto_endpoint), moto_table,
                     GenerationData(manifest, [], [], [], [], catalogue=facts), ttl_days=1)
    settings = Settings(dynamodb_endpoint_url=moto_endpoint, table=moto_table)
    async with await DynamoProfileStore.open(settings) as store:
        written = await store.get_manifest(manifest.generation)
        parts = await store.get_catalogue(manifest.generation)
    assert written is not None
    assert written.counts["catalogue_parts"] == report.items["catalogue"] == len(parts) > 1
    catalogue = InProcessCatalogue.from_parts(manifest.generation, parts)
    sample = random.Random(1).sample(range(len(facts)), 500)
    assert all(catalogue.get(facts.product_ids[i])
               == ProductFacts(CATEGORIES[facts.category_codes[i]], facts.in_stock[i])
               for i in sample)
