"""The recommended products an export adds, below the server: Pinpoint's value limit,
detail buckets that stay under DynamoDB's item limit and are found again, and an export
that reads each bucket of details once however many pages use it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from generation import Profile, ScoredItem, SegmentMember
from generation.details import (
    BUCKET_MAX_BYTES,
    DETAILS_BUCKETS,
    ProductDetails,
    bucket_count,
    bucket_of,
    decode_bucket,
    details_items,
)
from segment_export import ExportQuery, ExportTarget, SegmentExporter, Storefront

GEN = "20261124T000000Z-abc123"
LONG_URL = "https://shop.example.com/" + "x" * 120


def test_buckets_stay_small_and_hold_every_product() -> None:
    # Long names and URLs: a bucket sized by the average alone would exceed the limit.
    products = [ProductDetails(f"P{i}", "n" * 1900, 9.99, "https://i/" + "u" * 1900)
                for i in range(400)]
    count = bucket_count(products)
    items = list(details_items(GEN, products, count))
    assert len(items) == count > 1 and DETAILS_BUCKETS == "details_buckets"
    assert max(len(i["data"]["B"]) for i in items) <= BUCKET_MAX_BYTES
    found = {}
    for n, item in enumerate(items):
        held = decode_bucket(item["data"]["B"])
        assert all(bucket_of(p, count) == n for p in held)
        found.update(held)
    assert found == {p.product_id: p for p in products}
    # One product's texts are bounded: a URL past the bound is dropped, not cut.
    [odd] = decode_bucket(next(details_items(GEN, [ProductDetails("Q", "q" * 5000, None,
                                                                  "https://" + "u" * 5000)], 1))
                          ["data"]["B"]).values()
    assert (len(odd.name), odd.image_url, odd.price) == (2000, "", None)


class Source:
    """An export's members and their lists, counting the detail reads."""

    def __init__(self, members: int) -> None:
        self.products = [ProductDetails(f"P{i}", f"Product {i}", 10.0 + i,
                                        LONG_URL if i == 1 else f"https://i/{i}.jpg",
                                        f"https://p/{i}") for i in range(6)]
        self.count = bucket_count(self.products)
        self.buckets = {n: item["data"]["B"] for n, item in
                        enumerate(details_items(GEN, self.products, self.count))}
        self.people = [SegmentMember(f"u{i:03d}", f"u{i}@example.com", True,
                                      {"first_name": "X" * 150}) for i in range(members)]
        self.read: list[int] = []

    async def members_pages(self) -> AsyncIterator[list[SegmentMember]]:
        for i in range(0, len(self.people), 10):
            yield self.people[i:i + 10]

    async def members(self, name: str, *, page_size: int
                      ) -> tuple[str, AsyncIterator[list[SegmentMember]]]:
        return GEN, self.members_pages()

    async def storefront(self, generation: str) -> Storefront:
        popular = [ScoredItem(f"P{i}", 1.0) for i in range(6)]
        return Storefront(lambda p: p != "P2", popular, self.count)

    async def profiles(self, generation: str, user_ids: Sequence[str]) -> dict[str, Profile]:
        return {u: Profile(u, (ScoredItem("P5", 1.0), ScoredItem("P2", 0.9)), ("P0",))
                for u in user_ids}

    async def detail_buckets(self, generation: str, buckets: Sequence[int]) -> dict[int, bytes]:
        self.read += buckets
        return {b: self.buckets[b] for b in buckets}


async def test_pinpoint_values_fit_and_details_are_read_once(tmp_path: Path) -> None:
    source = Source(members=35)
    exporter = SegmentExporter(source, ExportTarget(str(tmp_path)),  # type: ignore[arg-type]
                               recommendations=source)
    done = await exporter.export(ExportQuery.checked("all", "pinpoint-jsonl"))
    assert done.result.members == 35
    assert sorted(source.read) == sorted(set(source.read))  # each bucket read once
    for line in Path(done.result.uri).read_text().splitlines():
        attrs = json.loads(line)["User"]["UserAttributes"]
        assert all(len(v[0]) <= 100 for v in attrs.values())
        assert attrs["FirstName"] == ["X" * 99 + "\u2026"]  # text is cut, marked
        # P5 first, P2 out of stock, then popular without P0 (bought): P1, P3, P4.
        assert [attrs[f"Rec{i}Id"][0] for i in range(1, 5)] == ["P5", "P1", "P3", "P4"]
        assert attrs["Rec2ImageUrl"] == [""]  # a URL too long for Pinpoint is left out
        assert (attrs["Rec2Name"], attrs["Rec2Price"]) == (["Product 1"], ["11.00"])
