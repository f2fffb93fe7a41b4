"""GenerationData: everything one run publishes, as a writer takes it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from generation.values import (
    CatalogueFacts,
    Manifest,
    Neighbours,
    PopularList,
    Profile,
    SegmentMember,
)

__all__ = ["GenerationData"]


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
