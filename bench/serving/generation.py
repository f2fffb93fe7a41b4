"""The small generation (2,000 users, 400 products) and publishing any generation through
the batch job's writer (profile_engine.publish.publish)."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

N_USERS = 2000
N_PRODUCTS = 400
CATEGORIES = ("home", "garden", "toys", "books", "sports", "pets", "beauty", "tools")


def generation_data() -> Any:
    """A fixed shop (seeded): profiles, neighbours, popular lists, a fresh generation id."""
    from generation import (
        GenerationData,
        Manifest,
        Neighbours,
        PopularList,
        Profile,
        ScoredItem,
    )
    from profile_engine.publish import new_generation_id

    rng = random.Random(7)
    products = [f"p{n:05d}" for n in range(N_PRODUCTS)]
    category = {p: CATEGORIES[n % len(CATEGORIES)] for n, p in enumerate(products)}

    def scored(ids: Sequence[str], reason: str) -> tuple[ScoredItem, ...]:
        return tuple(ScoredItem(p, round(1.0 - j / 60, 4), reason) for j, p in enumerate(ids))

    # 50 recommendations with reasons: ~2.5 KB per profile, like a production item.
    profiles = [
        Profile(
            user_id=f"u{n:06d}",
            recommendations=scored(rng.sample(products, 50), "bought together with p00042"),
            purchased=tuple(rng.sample(products, 5)),
            recent=tuple(rng.sample(products, 5)),
            category_affinity={c: round(rng.random(), 3) for c in rng.sample(CATEGORIES, 3)},
            rfm={"recency_days": 12.0, "frequency": 4.0, "monetary": 310.5},
        )
        for n in range(N_USERS)
    ]
    neighbours = [
        Neighbours(p, category[p], n % 17 != 0, scored(rng.sample(products, 20), "similar"))
        for n, p in enumerate(products)
    ]
    popular = [PopularList("", scored(products[:100], "popular"))] + [
        PopularList(c, scored([p for p in products if category[p] == c][:50], f"popular in {c}"))
        for c in CATEGORIES
    ]
    manifest = Manifest(
        generation=new_generation_id(),
        published_at=datetime.now(UTC).isoformat(timespec="seconds"),
        counts={"users": N_USERS, "items": N_PRODUCTS},
        categories=CATEGORIES,
    )
    return GenerationData(manifest, profiles, neighbours, popular, [])


@dataclass(frozen=True)
class Published:
    """The generation written and how long building and writing it took."""

    generation: str
    seconds: float  # creating the table not counted


def publish_generation(endpoint: str, table: str, data: Any = None) -> Published:
    """Create ``table`` in the DynamoDB at ``endpoint`` and publish ``data`` (default: the
    small fixed shop of generation_data()) through profile_engine.publish.publish."""
    import boto3

    from generation import layout
    from profile_engine.publish import publish

    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    client.create_table(**layout.table_definition(table))
    started_at = time.perf_counter()
    data = generation_data() if data is None else data
    publish(client, table, data, ttl_days=1)
    return Published(data.manifest.generation, time.perf_counter() - started_at)
