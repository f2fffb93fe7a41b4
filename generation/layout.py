"""The DynamoDB layout of published generations: table, keys, items, TTL, the pointer.

One table, string hash key ``pk`` and range key ``sk``; items use the low-level
attribute-value format of the DynamoDB API, so boto3 and aioboto3 clients share them.

    pk                                  sk               data (payloads.py)
    meta                                current          (pointer: generation, published_at,
                                                          format_version, table attributes)
    meta                                history          GenerationHistory (pointer changes)
    gen#<G>                             manifest         Manifest
    gen#<G>#user#<user_id>              profile          Profile
    gen#<G>#item#<product_id>           neighbours       Neighbours (+ ``facts``: ProductFacts)
    gen#<G>#popular                     cat#<category>   PopularList ("cat#" alone: overall)
    gen#<G>#catalogue                   part#<NNNNN>     CataloguePart (all products' facts)
    gen#<G>#segment#<name>              user#<user_id>   SegmentMember (Query pages by sk)

Payloads are protobuf bytes in the binary attribute ``data``. A neighbours item also
carries its product's facts (category, stock) in ``facts``, so a reader that only filters
candidates fetches a few bytes per product with a projection. Every item of a generation
carries ``expires_at`` (epoch seconds, the table's TTL attribute) so old generations
disappear on their own; the pointer never expires.

A generation published by import from S3 lives in a table of its own (ImportTable creates
a new table): its items are the same, in that table; the pointer and the manifest stay in
the fixed table, both with a ``table`` attribute naming it (absent: the fixed table holds
the items), so readers look up one table for the pointer and follow it to the items.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from generation import payloads
from generation.formats import FORMAT_VERSION
from generation.values import (
    CatalogueFacts,
    HistoryEntry,
    Manifest,
    Neighbours,
    Pointer,
    PopularList,
    Profile,
    SegmentMember,
)

__all__ = [
    "CATALOGUE_PARTS",
    "DATA",
    "FACTS",
    "FORMAT",
    "GENERATION",
    "Item",
    "Key",
    "PK",
    "PUBLISHED_AT",
    "SK",
    "TABLE",
    "TTL_ATTRIBUTE",
    "catalogue_items",
    "catalogue_query",
    "decode_history",
    "decode_pointer",
    "history_item",
    "history_key",
    "key",
    "key_of",
    "manifest_item",
    "manifest_key",
    "manifest_table",
    "neighbours_item",
    "neighbours_key",
    "payload",
    "pointer_item",
    "pointer_key",
    "popular_item",
    "popular_key",
    "popular_pk",
    "profile_item",
    "profile_key",
    "segment_member_item",
    "segment_member_key",
    "segment_member_sk",
    "segment_page_query",
    "segment_pk",
    "table_definition",
]

Item = dict[str, dict[str, Any]]
Key = dict[str, dict[str, str]]

PK = "pk"
SK = "sk"
DATA = "data"
FACTS = "facts"
TTL_ATTRIBUTE = "expires_at"
GENERATION = "generation"
PUBLISHED_AT = "published_at"
FORMAT = "format_version"
# On the pointer and a manifest: the table holding the generation's items, when it is not
# the table of the pointer (a generation published by import from S3).
TABLE = "table"

# The manifest count that says how many catalogue parts the generation has.
CATALOGUE_PARTS = "catalogue_parts"
# A catalogue part's payload stays under this (DynamoDB's item limit is 400 KB).
CATALOGUE_PART_BYTES = 256 * 1024
POINTER_PK = "meta"
POINTER_SK = "current"
HISTORY_SK = "history"
VERSION = "version"


def key(pk: str, sk: str) -> Key:
    return {PK: {"S": pk}, SK: {"S": sk}}


def key_of(item: Item) -> tuple[str, str]:
    """(pk, sk) of an item or key: how readers match BatchGetItem's unordered answers."""
    return item[PK]["S"], item[SK]["S"]


def pointer_key() -> Key:
    return key(POINTER_PK, POINTER_SK)


def history_key() -> Key:
    return key(POINTER_PK, HISTORY_SK)


def history_item(entries: Sequence[HistoryEntry], version: int) -> Item:
    """The pointer's history; ``version`` counts its writes (writers condition on it)."""
    return {**history_key(), DATA: {"B": payloads.encode_history(entries)},
            VERSION: {"N": str(version)}}


def decode_history(item: Item) -> tuple[tuple[HistoryEntry, ...], int]:
    """(entries oldest first, version) of a history item."""
    return payloads.decode_history(payload(item)), int(item[VERSION]["N"])


def manifest_key(generation: str) -> Key:
    return key(f"gen#{generation}", "manifest")


def profile_key(generation: str, user_id: str) -> Key:
    return key(f"gen#{generation}#user#{user_id}", "profile")


def neighbours_key(generation: str, product_id: str) -> Key:
    return key(f"gen#{generation}#item#{product_id}", "neighbours")


def popular_pk(generation: str) -> str:
    return f"gen#{generation}#popular"


def popular_key(generation: str, category: str) -> Key:
    return key(popular_pk(generation), f"cat#{category}")


def segment_pk(generation: str, segment: str) -> str:
    return f"gen#{generation}#segment#{segment}"


def segment_member_sk(user_id: str) -> str:
    return f"user#{user_id}"


def segment_member_key(generation: str, segment: str, user_id: str) -> Key:
    return key(segment_pk(generation, segment), segment_member_sk(user_id))


# -- items a writer puts ------------------------------------------------------------------


def _item(k: Key, data: bytes, expires_at: int | None) -> Item:
    item: Item = {**k, DATA: {"B": data}}
    if expires_at is not None:
        item[TTL_ATTRIBUTE] = {"N": str(int(expires_at))}
    return item


def profile_item(generation: str, p: Profile, expires_at: int | None = None) -> Item:
    return _item(profile_key(generation, p.user_id), payloads.encode_profile(p), expires_at)


def neighbours_item(generation: str, n: Neighbours, expires_at: int | None = None) -> Item:
    item = _item(neighbours_key(generation, n.product_id), payloads.encode_neighbours(n),
                 expires_at)
    item[FACTS] = {"B": payloads.encode_facts(n.facts)}
    return item


def catalogue_pk(generation: str) -> str:
    return f"gen#{generation}#catalogue"


def catalogue_items(
    generation: str, facts: CatalogueFacts, expires_at: int | None = None
) -> Iterator[Item]:
    """The catalogue's facts in parts of at most CATALOGUE_PART_BYTES, in product order."""
    start, size, part = 0, 0, 0
    ids = facts.product_ids
    for n, pid in enumerate(ids):
        # id bytes + its length prefix and tag, a code, a stock flag (upper bounds)
        grown = size + len(pid.encode()) + 12
        if grown > CATALOGUE_PART_BYTES - 8192 and n > start:  # room for category names
            yield _catalogue_item(generation, facts, start, n, part, expires_at)
            start, size, part = n, len(pid.encode()) + 12, part + 1
        else:
            size = grown
    if len(ids) > start:
        yield _catalogue_item(generation, facts, start, len(ids), part, expires_at)


def _catalogue_item(generation: str, facts: CatalogueFacts, start: int, stop: int, part: int,
                    expires_at: int | None) -> Item:
    piece = CatalogueFacts(facts.categories, facts.product_ids[start:stop],
                           facts.category_codes[start:stop], facts.in_stock[start:stop])
    return _item(key(catalogue_pk(generation), f"part#{part:05d}"),
                 payloads.encode_catalogue_part(piece), expires_at)


def catalogue_query(table: str, generation: str) -> dict[str, Any]:
    """Query arguments for every catalogue part of ``generation`` (add ExclusiveStartKey
    for the next page)."""
    return {
        "TableName": table,
        "KeyConditionExpression": "#pk = :pk",
        "ExpressionAttributeNames": {"#pk": PK, "#d": DATA},
        "ExpressionAttributeValues": {":pk": {"S": catalogue_pk(generation)}},
        "ProjectionExpression": "#d",
    }


def popular_item(generation: str, p: PopularList, expires_at: int | None = None) -> Item:
    return _item(popular_key(generation, p.category), payloads.encode_popular(p), expires_at)


def segment_member_item(
    generation: str, segment: str, m: SegmentMember, expires_at: int | None = None
) -> Item:
    return _item(segment_member_key(generation, segment, m.user_id),
                 payloads.encode_segment_member(m), expires_at)


def manifest_item(m: Manifest, expires_at: int | None = None, table: str = "") -> Item:
    """The manifest; ``table``: the table holding the generation's items when it is not
    the manifest's own."""
    item = _item(manifest_key(m.generation), payloads.encode_manifest(m), expires_at)
    if table:
        item[TABLE] = {"S": table}
    return item


def manifest_table(item: Item) -> str:
    """The table a manifest item says holds its generation's items ("": its own)."""
    return str(item[TABLE]["S"]) if TABLE in item else ""


def pointer_item(generation: str, published_at: str, format_version: int = FORMAT_VERSION,
                 table: str = "") -> Item:
    """The pointer names the generation and its format, so a reader can refuse a format it
    does not know before reading anything else of the generation, and the table that holds
    its items when that is not the pointer's own."""
    item: Item = {
        **pointer_key(),
        GENERATION: {"S": generation},
        PUBLISHED_AT: {"S": published_at},
        FORMAT: {"N": str(format_version)},
    }
    if table:
        item[TABLE] = {"S": table}
    return item


# -- reading items ------------------------------------------------------------------------


def payload(item: Item, attribute: str = DATA) -> bytes:
    """The payload bytes of an item as any low-level client returns them."""
    raw = item[attribute]["B"]
    return raw if isinstance(raw, bytes) else bytes(raw)


def decode_pointer(item: Item) -> Pointer:
    # A pointer written before formats were recorded held JSON payloads: format 0.
    version = int(item[FORMAT]["N"]) if FORMAT in item else 0
    # No table attribute (every pointer written before imports existed): the fixed table.
    table = item[TABLE]["S"] if TABLE in item else ""
    return Pointer(item[GENERATION]["S"], item[PUBLISHED_AT]["S"], version, table)


def segment_page_query(
    table: str, generation: str, segment: str, page_size: int, after_user_id: str = ""
) -> dict[str, Any]:
    """Query arguments for one page of ``segment``'s members in user-id order (code point
    order, as DynamoDB sorts UTF-8 range keys), strictly after ``after_user_id``; add
    ``ExclusiveStartKey`` for the next page. Every range key of a segment partition is
    "user#<id>", so "> user#" selects them all."""
    return {
        "TableName": table,
        "KeyConditionExpression": "#pk = :pk AND #sk > :after",
        # "data" is a DynamoDB reserved word: real DynamoDB and dynalite reject it unaliased.
        "ExpressionAttributeNames": {"#pk": PK, "#sk": SK, "#d": DATA},
        "ExpressionAttributeValues": {
            ":pk": {"S": segment_pk(generation, segment)},
            ":after": {"S": segment_member_sk(after_user_id)},
        },
        "ProjectionExpression": "#d",
        "Limit": page_size,
    }


def table_definition(table_name: str) -> dict[str, Any]:
    """CreateTable arguments (on-demand billing); TTL is enabled separately."""
    return {
        "TableName": table_name,
        "KeySchema": [
            {"AttributeName": PK, "KeyType": "HASH"},
            {"AttributeName": SK, "KeyType": "RANGE"},
        ],
        "AttributeDefinitions": [
            {"AttributeName": PK, "AttributeType": "S"},
            {"AttributeName": SK, "AttributeType": "S"},
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }
