"""How each cached kind turns into bytes: the schema's item payloads (compact JSON)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from recsvc.cache import keys
from recsvc.models import ItemFacts, Neighbours, PopularList, Profile
from recsvc.store import schema

__all__ = ["FACTS", "NEIGHBOURS", "POPULAR", "PROFILE", "Kind"]

T = TypeVar("T")


@dataclass(frozen=True)
class Kind(Generic[T]):
    """One kind of cached value: its key segment and its bytes codec. Encoded values are
    never empty: the empty value is cache-aside's "known absent" marker."""

    name: str
    encode: Callable[[T], bytes]
    decode: Callable[[bytes], T]


# The store's own payload codecs (schema.encode_*/decode_*), minus the DynamoDB
# envelope: writer, store and cache share one format. The decoders read only DATA.
def _payload(item: schema.Item) -> bytes:
    return str(item[schema.DATA]["S"]).encode()


def _item(raw: bytes) -> schema.Item:
    return {schema.DATA: {"S": raw.decode()}}


PROFILE: Kind[Profile] = Kind(
    keys.PROFILE,
    lambda p: _payload(schema.encode_profile("", p)),
    lambda raw: schema.decode_profile(_item(raw)),
)
NEIGHBOURS: Kind[Neighbours] = Kind(
    keys.NEIGHBOURS,
    lambda n: _payload(schema.encode_neighbours("", n)),
    lambda raw: schema.decode_neighbours(_item(raw)),
)
POPULAR: Kind[PopularList] = Kind(
    keys.POPULAR,
    lambda p: _payload(schema.encode_popular("", p)),
    lambda raw: schema.decode_popular(_item(raw)),
)


def _facts_out(f: ItemFacts) -> bytes:
    return json.dumps([f.category, int(f.in_stock)], separators=(",", ":")).encode()


def _facts_in(raw: bytes) -> ItemFacts:
    category, in_stock = json.loads(raw)
    return ItemFacts(str(category), bool(in_stock))


# Category and stock of a candidate product: a few bytes instead of its neighbour list.
FACTS: Kind[ItemFacts] = Kind(keys.FACTS, _facts_out, _facts_in)
