"""Every product's category and stock for the served generation, held in memory.

Filtering candidates by stock and category needs the facts of up to a hundred products per
call; held here, that costs no round trip and no decoding. The generation publishes them
as a few CataloguePart items (generation/layout.py), read once per generation.

Compact on purpose: a product is a 64-bit hash of its id in a sorted array and one packed
32-bit word (category code and stock flag), 12 bytes per product, 12 MB per million, with
no Python object per product. Two ids with the same hash would share facts; with 64-bit
hashes the chance is about n^2 / 2^65 (3e-8 for a million products).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Sequence

from generation import ProductFacts, payloads

__all__ = ["InProcessCatalogue"]

# Products looked up recently, by id: a dict hit (~50 ns) instead of a binary search (~1
# µs); category filters look up a hundred candidates or more per call. Emptied when full.
HOT_ENTRIES = 65_536
_MISSING = object()


class InProcessCatalogue:
    """``get(product_id)`` -> ProductFacts or None (not in the catalogue), like a dict."""

    def __init__(self, generation: str, ids: Sequence[str], codes: Sequence[int],
                 in_stock: Sequence[bool], categories: Sequence[str]) -> None:
        self.generation = generation
        hashes = [hash(p) for p in ids]
        order = sorted(range(len(hashes)), key=hashes.__getitem__)
        self._hashes = array("q", [hashes[i] for i in order])
        self._packed = array("I", [codes[i] * 2 + bool(in_stock[i]) for i in order])
        self._n = len(self._hashes)
        # One shared value per (category, stock): lookups create nothing.
        self._facts = tuple(ProductFacts(c, stock) for c in categories for stock in (False, True))
        self._hot: dict[str, ProductFacts | None] = {}

    @classmethod
    def from_parts(cls, generation: str, parts: Sequence[bytes]) -> InProcessCatalogue:
        """From the generation's CataloguePart payloads (each with its own category list)."""
        index: dict[str, int] = {}
        ids: list[str] = []
        codes: list[int] = []
        stock: list[bool] = []
        for raw in parts:
            part = payloads.decode_catalogue_part(raw)
            local = [index.setdefault(c, len(index)) for c in part.categories]
            ids.extend(part.product_ids)
            codes.extend(local[c] for c in part.category_codes)
            stock.extend(part.in_stock)
        return cls(generation, ids, codes, stock, list(index))

    def get(self, product_id: str, default: None = None, /) -> ProductFacts | None:
        found = self._hot.get(product_id, _MISSING)
        if found is not _MISSING:
            return found  # type: ignore[return-value]
        h = hash(product_id)
        i = bisect_left(self._hashes, h)
        value = self._facts[self._packed[i]] if i < self._n and self._hashes[i] == h else None
        if len(self._hot) >= HOT_ENTRIES:
            self._hot.clear()
        self._hot[product_id] = value
        return value

    def __len__(self) -> int:
        return self._n

    @property
    def nbytes(self) -> int:
        """Memory held per product (the arrays), not counting the few shared values."""
        return self._n * (self._hashes.itemsize + self._packed.itemsize)
