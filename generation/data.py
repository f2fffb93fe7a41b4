"""GenerationData: everything one run publishes, as a writer takes it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from generation.details import ProductDetails
from generation.values import (
    CatalogueFacts,
    Manifest,
    Neighbours,
    PopularList,
    Profile,
    SegmentMember,
)

__all__ = ["GenerationData", "NeighbourFacts"]


@dataclass
class GenerationData:
    """The collections are iterated once, in this order (they may be streams computed while
    they are written); the manifest goes last, after every item it describes."""

    manifest: Manifest
    profiles: Iterable[Profile]
    neighbours: Iterable[Neighbours]
    popular: Iterable[PopularList]
    # (segment name, member) pairs.
    segment_members: Iterable[tuple[str, SegmentMember]]
    # Category and stock of every product of the catalogue. None: the writer publishes
    # those of the products that have neighbours (the facts it writes with them).
    catalogue: CatalogueFacts | None = None
    # Name, price and URLs of the catalogue's products, for campaign exports
    # (generation/details.py). None: the generation has no details.
    details: Sequence[ProductDetails] | None = None


class NeighbourFacts:
    """Passes neighbour lists through, remembering each product's category and stock: the
    catalogue a writer publishes when GenerationData has none."""

    def __init__(self, neighbours: Iterable[Neighbours]) -> None:
        self._neighbours = neighbours
        self._ids: list[str] = []
        self._codes: list[int] = []
        self._stock: list[bool] = []
        self._categories: dict[str, int] = {}

    def __iter__(self) -> Iterator[Neighbours]:
        for n in self._neighbours:
            self._ids.append(n.product_id)
            self._codes.append(self._categories.setdefault(n.category, len(self._categories)))
            self._stock.append(n.in_stock)
            yield n

    def collected(self) -> CatalogueFacts:
        """The facts of the neighbour lists iterated so far."""
        return CatalogueFacts(tuple(self._categories), self._ids, self._codes, self._stock)
