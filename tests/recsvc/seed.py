"""A small, deterministic shop generation and the ways tests publish it (real writer only)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from generation import (
    GenerationData,
    Manifest,
    ModelChoice,
    ModelTrial,
    Neighbours,
    PopularList,
    Profile,
    ScoredItem,
    SegmentInfo,
    SegmentMember,
)
from generation.details import ProductDetails
from profile_engine.generation_tables import default_prefix
from profile_engine.import_files import s3_client
from profile_engine.publish import PublishReport, dynamodb_client, new_generation_id, publish
from profile_engine.publish_import import ImportFigures, publish_by_import
from recsvc.store.memory import InMemoryProfileStore

REGION = "us-east-1"
CATEGORIES = ("hats", "shirts", "shoes")
N_PRODUCTS = 60
N_USERS = 150
OUT_OF_STOCK = frozenset({"P007", "P013", "P044"})
# Big enough that the stream/paging tests cross many pages.
HIGH_VALUE_SIZE = 240


def product(n: int) -> str:
    return f"P{n:03d}"


def category_of(pid: str) -> str:
    return CATEGORIES[int(pid[1:]) % len(CATEGORIES)]


def user(n: int) -> str:
    return f"u{n:04d}"


def _neighbours(n: int) -> Neighbours:
    pid = product(n)
    # Same-category products a few steps away, best first; only in-stock ones (as published).
    similar = [product((n + 3 * j) % N_PRODUCTS) for j in range(1, 9)]
    items = tuple(
        ScoredItem(p, round(1.0 - 0.1 * j, 3))
        for j, p in enumerate(similar)
        if p not in OUT_OF_STOCK
    )
    return Neighbours(pid, category_of(pid), pid not in OUT_OF_STOCK, items)


def _profile(n: int) -> Profile:
    # Known users are recommended the catalogue's tail; popular lists are its head, so
    # personal and fallback answers differ visibly.
    recs = tuple(
        ScoredItem(product(30 + (n + j) % 30), round(10.0 - 0.3 * j, 3), "similar shoppers")
        for j in range(20)
    )
    return Profile(
        user_id=user(n),
        recommendations=recs,
        purchased=(product(30 + (n + 1) % 30),),
        recent=(product(n % N_PRODUCTS),),
        category_affinity={category_of(product(n)): 0.6},
        rfm={"recency_days": float(n % 90), "frequency": 3.0, "monetary": 120.5},
        segments=("high_value",) if n < HIGH_VALUE_SIZE else (),
    )


def _popular() -> list[PopularList]:
    head = [product(n) for n in range(30)]
    overall = tuple(ScoredItem(p, 100.0 - i, "popular") for i, p in enumerate(head))
    lists = [PopularList("", overall)]
    for c in CATEGORIES:
        members = [p for p in head if category_of(p) == c]
        lists.append(
            PopularList(
                c, tuple(ScoredItem(p, 50.0 - i, f"popular in {c}") for i, p in enumerate(members))
            )
        )
    return lists


def _details(n: int) -> ProductDetails:
    """What campaign templates show; some products lack a price or an image, as in a real
    catalogue."""
    pid = product(n)
    return ProductDetails(
        pid, f"{category_of(pid).title()} no. {n}", None if n % 10 == 9 else 5 + 1.25 * n,
        "" if n % 7 == 3 else f"https://shop.example.com/img/{pid}.jpg",
        f"https://shop.example.com/p/{pid}",
    )


def _members() -> list[tuple[str, SegmentMember]]:
    out = [
        ("high_value", SegmentMember(user(n), f"{user(n)}@example.com", n % 2 == 0,
                                     {"first_name": f"Name{n}", "country": "DE"}))
        for n in range(HIGH_VALUE_SIZE)
    ]
    lapsed = [SegmentMember(user(n), "", False, {"recency_days": "200"}) for n in (3, 1, 2)]
    out += [("lapsed", m) for m in lapsed]
    return out


# What the batch job records of its model choice (profile_engine.tuning).
MODEL_CHOICE = ModelChoice(
    served="ranker",
    reason="ranker: beat item_neighbours, ndcg@10 0.3300 vs 0.3100 (difference +0.0200, "
    "standard error 0.0050); on 400 held-out validation users",
    settings={"family": "ease", "lambda": "400", "category_weight": "1"},
    trials=(
        ModelTrial("most_popular", {}, 0.12, 0.1),
        ModelTrial("ranker", {"family": "ease", "lambda": "150"}, 0.31, 2.5),
        ModelTrial("ranker", {"family": "ease", "lambda": "400"}, 0.33, 2.4),
    ),
    budget_s=120.0,
    used_s=30.5,
)


def sample_generation(generation: str | None = None) -> GenerationData:
    gen = generation or new_generation_id()
    members = _members()
    sizes = {"high_value": HIGH_VALUE_SIZE, "lapsed": 3}
    manifest = Manifest(
        generation=gen,
        published_at=datetime.now(UTC).isoformat(timespec="seconds"),
        counts={"users": N_USERS, "items": N_PRODUCTS, "events": 12345},
        metrics={"ndcg@10": 0.31},
        segments=(
            SegmentInfo("lapsed", "no purchase for 180 days", sizes["lapsed"]),
            SegmentInfo("high_value", "top RFM monetary quintile", sizes["high_value"]),
        ),
        categories=CATEGORIES,
        model=MODEL_CHOICE,
    )
    return GenerationData(
        manifest=manifest,
        profiles=[_profile(n) for n in range(N_USERS)],
        neighbours=[_neighbours(n) for n in range(N_PRODUCTS)],
        popular=_popular(),
        segment_members=members,
        details=[_details(n) for n in range(N_PRODUCTS)],
    )


def publish_to(endpoint: str, table: str, data: GenerationData) -> None:
    """Publish through the batch job's own writer (profile_engine.publish)."""
    publish(dynamodb_client(REGION, endpoint), table, data, ttl_days=1)


def import_to(
    endpoint: str, table: str, data: GenerationData, bucket: str, ttl_days: float = 1
) -> tuple[PublishReport, ImportFigures]:
    """Publish by DynamoDB import from S3 (profile_engine.publish_import): files staged in
    ``bucket``, a table of the generation's own, the pointer in ``table`` naming it."""
    return publish_by_import(
        dynamodb_client(REGION, endpoint), s3_client(REGION, endpoint), table, data,
        ttl_days=ttl_days, staging_url=f"s3://{bucket}/staging", region=REGION,
        s3_endpoint_url=endpoint, table_prefix=default_prefix(table), timeout_s=60,
    )


def drop_generation_tables(endpoint: str, table: str) -> None:
    """Delete the tables of ``table``'s imported generations (test clean-up)."""
    client = dynamodb_client(REGION, endpoint)
    for page in client.get_paginator("list_tables").paginate():
        for name in page["TableNames"]:
            if name.startswith(default_prefix(table)):
                client.delete_table(TableName=name)


def load_memory(store: InMemoryProfileStore, data: GenerationData) -> None:
    store.publish(data)


def members_of(data: GenerationData, segment: str) -> list[SegmentMember]:
    return sorted((m for s, m in data.segment_members if s == segment), key=lambda m: m.user_id)


@contextmanager
def memory_store(data: GenerationData | None = None) -> Iterator[InMemoryProfileStore]:
    store = InMemoryProfileStore()
    if data is not None:
        load_memory(store, data)
    yield store
