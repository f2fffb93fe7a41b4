"""The cached kinds: each one's key segment and how its payload bytes decode into a value.

The bytes are the stored generation's payloads (generation.payloads): the cache holds what
the store returned, so nothing is ever encoded here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from generation import Neighbours, PopularList, ProductFacts, Profile, payloads
from recsvc.cache import keys

__all__ = ["FACTS", "NEIGHBOURS", "POPULAR", "PROFILE", "Kind"]

T = TypeVar("T")


@dataclass(frozen=True)
class Kind(Generic[T]):
    """One kind of cached value: its key segment and its payload decoder."""

    name: str
    decode: Callable[[bytes], T]


PROFILE: Kind[Profile] = Kind(keys.PROFILE, payloads.decode_profile)
NEIGHBOURS: Kind[Neighbours] = Kind(keys.NEIGHBOURS, payloads.decode_neighbours)
POPULAR: Kind[PopularList] = Kind(keys.POPULAR, payloads.decode_popular)
# Category and stock of a candidate product: a few bytes instead of its neighbour list.
FACTS: Kind[ProductFacts] = Kind(keys.FACTS, payloads.decode_facts)
