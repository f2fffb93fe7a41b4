"""Each exported member's top recommended products, as attributes an e-mail template uses.

What the service's ``Recommend`` answers for that user with no page context: their
batch recommendations in order, then the popular list, skipping what they bought, what
is out of stock (as the served generation records it) and repeats. The browsing since
the batch (session events) steers on-site answers only, never an e-mail. For product i
(1-based) a member gets ``rec<i>_id``, ``rec<i>_name``, ``rec<i>_price`` (two decimals),
``rec<i>_url`` (the product page) and ``rec<i>_image_url``: empty when the member has fewer
products or the catalogue lacks the detail. Pinpoint files name them ``Rec1Id``...,
SES ``rec1Id``..., plain formats as here.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from generation import Profile, ScoredItem, SegmentMember, rows
from generation.details import ProductDetails, bucket_of, decode_bucket

__all__ = [
    "FIELDS",
    "PersonalLists",
    "RecommendationSource",
    "Storefront",
    "attribute_names",
    "attributes",
    "ordered",
    "pick",
]

FIELDS = ("id", "name", "price", "url", "image_url")
_REC = re.compile(r"^rec(\d+)_(.+)$")
# Decoded detail buckets kept per export: the products picked for a segment are mostly
# the same popular few, so a small window serves most pages without a read.
DETAIL_BUCKETS_HELD = 64


@dataclass(frozen=True)
class Storefront:
    """What picking needs of one generation besides the members' profiles."""

    # A product's stock: True/False, None when the catalogue does not know it (allowed,
    # as Recommend allows it).
    in_stock: Callable[[str], bool | None]
    # The overall popular list: the fill after a member's own recommendations.
    popular: Sequence[ScoredItem]
    # The manifest's details_buckets count (0: the generation has no details).
    details_buckets: int


class RecommendationSource(Protocol):
    """The served generation's data an export reads (the service's store, or the table
    directly for ``profile-engine export-segment``); raises the caller's own errors."""

    async def storefront(self, generation: str) -> Storefront: ...

    async def profiles(self, generation: str, user_ids: Sequence[str]) -> dict[str, Profile]:
        ...

    async def detail_buckets(self, generation: str, buckets: Sequence[int]
                             ) -> dict[int, bytes]: ...


def pick(recommendations: Sequence[ScoredItem], purchased: Iterable[str],
         popular: Sequence[ScoredItem], in_stock: Callable[[str], bool | None],
         n: int) -> list[str]:
    """The first ``n`` products of the member's list, then the popular list, that they did
    not buy, that are not known to be out of stock, each once (Recommend's rules with no
    page context)."""
    banned = set(purchased)
    out: list[str] = []
    for pid, _, _ in (*rows(recommendations), *rows(popular)):
        if len(out) >= n:
            break
        if pid in banned or in_stock(pid) is False:
            continue
        banned.add(pid)
        out.append(pid)
    return out


def attribute_names(n: int) -> list[str]:
    return [f"rec{i}_{f}" for i in range(1, n + 1) for f in FIELDS]


def attributes(products: Sequence[ProductDetails], n: int) -> dict[str, str]:
    """rec<i>_<field> for i in 1..n; "" where there is no product or no such detail."""
    out = dict.fromkeys(attribute_names(n), "")
    for i, d in enumerate(products[:n], start=1):
        out[f"rec{i}_id"] = d.product_id
        out[f"rec{i}_name"] = d.name
        out[f"rec{i}_price"] = "" if d.price is None else f"{d.price:.2f}"
        out[f"rec{i}_url"] = d.page_url
        out[f"rec{i}_image_url"] = d.image_url
    return out


def ordered(keys: Iterable[str]) -> list[str]:
    """Attribute columns: the profile's in name order, then the products' by rank."""
    def key(name: str) -> tuple[int, int, str]:
        m = _REC.match(name)
        if m and m.group(2) in FIELDS:
            return int(m.group(1)), FIELDS.index(m.group(2)), name
        return 0, 0, name

    return sorted(keys, key=key)


class PersonalLists:
    """Adds the top ``n`` products to each consenting member of an export's pages; one per
    export (it holds the generation's storefront and a window of decoded details)."""

    def __init__(self, source: RecommendationSource, generation: str, n: int) -> None:
        self._source, self._generation, self._n = source, generation, n
        self._front: Storefront | None = None
        self._buckets: OrderedDict[int, Mapping[str, ProductDetails]] = OrderedDict()

    async def add_to(self, page: Sequence[SegmentMember],
                     wanted: Callable[[SegmentMember], bool]) -> list[SegmentMember]:
        """``page`` with the ``wanted`` members' attributes extended (the others as they
        are: the export leaves them out)."""
        chosen = [m for m in page if wanted(m)]
        if not chosen:
            return list(page)
        if self._front is None:
            self._front = await self._source.storefront(self._generation)
        front = self._front
        profiles = await self._source.profiles(self._generation, [m.user_id for m in chosen])
        picks: dict[str, list[str]] = {}
        for m in chosen:
            p = profiles.get(m.user_id)
            picks[m.user_id] = pick(p.recommendations if p else (), p.purchased if p else (),
                                    front.popular, front.in_stock, self._n)
        found = await self._details({pid for ids in picks.values() for pid in ids})
        out = []
        for m in page:
            ids = picks.get(m.user_id) if wanted(m) else None
            if ids is None:
                out.append(m)
                continue
            products = [found.get(pid) or ProductDetails(pid) for pid in ids]
            out.append(replace(m, attributes={**m.attributes, **attributes(products, self._n)}))
        return out

    async def _details(self, product_ids: set[str]) -> dict[str, ProductDetails]:
        count = self._front.details_buckets if self._front else 0
        if not count or not product_ids:
            return {}
        by_bucket: dict[int, list[str]] = {}
        for pid in product_ids:
            by_bucket.setdefault(bucket_of(pid, count), []).append(pid)
        missing = [b for b in sorted(by_bucket) if b not in self._buckets]
        if missing:
            fetched = await self._source.detail_buckets(self._generation, missing)
            for b in missing:
                self._buckets[b] = decode_bucket(fetched[b]) if b in fetched else {}
        out: dict[str, ProductDetails] = {}
        for b, ids in by_bucket.items():
            self._buckets.move_to_end(b)
            held = self._buckets[b]
            out.update((p, held[p]) for p in ids if p in held)
        while len(self._buckets) > max(DETAIL_BUCKETS_HELD, len(by_bucket)):
            self._buckets.popitem(last=False)
        return out
