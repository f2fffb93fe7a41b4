"""Product details for campaign templates (name, price, image and page URL), in buckets.

Segment exports give each member the products recommended to them with what an e-mail
template shows. Those details are not what serving needs (it filters by category and
stock, held in memory per generation from the catalogue parts), so they live in items of
their own that the service's catalogue load never reads:

    pk                   sk               data
    gen#<G>#details      bucket#<NNNNN>   ProductDetailsBucket (payloads.proto)

A product is in bucket ``crc32(UTF-8 id) % details_buckets`` (the manifest's count), so a
reader fetches the details of the products it picked with one BatchGetItem of their
buckets. A generation without the count (written before details existed) has none.
"""

from __future__ import annotations

import math
import zlib
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace

from generation import layout
from generation.v1 import payloads_pb2 as pb
from generation.values import Manifest

__all__ = [
    "DETAILS_BUCKETS",
    "ProductDetails",
    "bucket_count",
    "bucket_key",
    "bucket_of",
    "buckets_of",
    "decode_bucket",
    "details_items",
    "encode_bucket",
    "with_details_count",
]

# The manifest count that says how many detail buckets the generation has.
DETAILS_BUCKETS = "details_buckets"
# Buckets are sized for this much payload on average, and none may exceed the maximum
# (DynamoDB's item limit is 400 KB): a skewed bucket doubles the count.
BUCKET_TARGET_BYTES = 128 * 1024
BUCKET_MAX_BYTES = 300 * 1024
# A text longer than this (characters) is cut (names) or dropped (URLs: a cut URL is a
# broken link), so one product can never fill an item.
MAX_TEXT_CHARS = 2000
# Field tags, length prefixes and the price, per product (an upper bound).
_OVERHEAD_BYTES = 32


@dataclass(frozen=True, slots=True)
class ProductDetails:
    product_id: str
    name: str = ""
    price: float | None = None  # None: the catalogue has no price
    image_url: str = ""
    page_url: str = ""


def bucket_of(product_id: str, buckets: int) -> int:
    """The bucket holding ``product_id`` (stable across processes and languages)."""
    return zlib.crc32(product_id.encode()) % buckets


def buckets_of(product_ids: Iterable[str], buckets: int) -> list[int]:
    """The distinct buckets holding ``product_ids``, sorted."""
    return sorted({bucket_of(p, buckets) for p in product_ids})


def _clean(d: ProductDetails) -> ProductDetails:
    def url(u: str) -> str:
        return u if len(u) <= MAX_TEXT_CHARS else ""

    price = d.price if d.price is not None and math.isfinite(d.price) else None
    return ProductDetails(d.product_id, d.name[:MAX_TEXT_CHARS], price, url(d.image_url),
                          url(d.page_url))


def _size(d: ProductDetails) -> int:
    return _OVERHEAD_BYTES + sum(
        len(s.encode()) for s in (d.product_id, d.name, d.image_url, d.page_url))


def _measure(details: Sequence[ProductDetails]) -> tuple[array[int], array[int]]:
    """Each product's id checksum and payload size (upper bound), as compact arrays: a
    catalogue of millions is measured without an object per product."""
    crcs, sizes = array("I"), array("I")
    for d in details:
        c = _clean(d)
        crcs.append(zlib.crc32(c.product_id.encode()))
        sizes.append(_size(c))
    return crcs, sizes


def bucket_count(details: Sequence[ProductDetails]) -> int:
    """How many buckets ``details`` go into: enough for BUCKET_TARGET_BYTES on average,
    doubled until no bucket exceeds BUCKET_MAX_BYTES. Deterministic in the details."""
    crcs, sizes = _measure(details)
    buckets = max(1, math.ceil(sum(sizes) / BUCKET_TARGET_BYTES))
    while True:
        per_bucket = [0] * buckets
        for crc, size in zip(crcs, sizes, strict=True):
            per_bucket[crc % buckets] += size
        if max(per_bucket) <= BUCKET_MAX_BYTES or buckets >= len(crcs):
            return buckets
        buckets *= 2


def encode_bucket(details: Sequence[ProductDetails]) -> bytes:
    cleaned = [_clean(d) for d in details]
    message = pb.ProductDetailsBucket(
        product_ids=[d.product_id for d in cleaned],
        names=[d.name for d in cleaned],
        prices=[math.nan if d.price is None else d.price for d in cleaned],
        image_urls=[d.image_url for d in cleaned],
        page_urls=[d.page_url for d in cleaned],
    )
    return message.SerializeToString(deterministic=True)


def decode_bucket(raw: bytes) -> dict[str, ProductDetails]:
    """Product id -> its details."""
    m = pb.ProductDetailsBucket.FromString(raw)
    return {
        pid: ProductDetails(pid, name, None if math.isnan(price) else price, image, page)
        for pid, name, price, image, page in zip(
            m.product_ids, m.names, m.prices, m.image_urls, m.page_urls, strict=True)
    }


def details_pk(generation: str) -> str:
    return f"gen#{generation}#details"


def bucket_key(generation: str, bucket: int) -> layout.Key:
    return layout.key(details_pk(generation), f"bucket#{bucket:05d}")


def details_items(
    generation: str, details: Sequence[ProductDetails], buckets: int,
    expires_at: int | None = None,
) -> Iterator[layout.Item]:
    """One item per bucket (empty buckets too: a reader tells "no details" from "not
    written"), in bucket order; ``details`` is indexed, not copied (it may be a view of
    the catalogue's columns)."""
    grouped = [array("I") for _ in range(buckets)]
    for i, d in enumerate(details):
        grouped[bucket_of(d.product_id, buckets)].append(i)
    for bucket, members in enumerate(grouped):
        item: layout.Item = {**bucket_key(generation, bucket),
                             layout.DATA: {"B": encode_bucket([details[i] for i in members])}}
        if expires_at is not None:
            item[layout.TTL_ATTRIBUTE] = {"N": str(int(expires_at))}
        yield item


def with_details_count(manifest: Manifest, details: Sequence[ProductDetails] | None
                       ) -> tuple[Manifest, int]:
    """The manifest with its ``details_buckets`` count, and the count (0: no details)."""
    if details is None:
        return manifest, 0
    buckets = bucket_count(details)
    return replace(manifest, counts={**manifest.counts, DETAILS_BUCKETS: buckets}), buckets
