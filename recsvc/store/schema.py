"""DynamoDB layout of a published generation: keys and item codecs, shared by writer and reader.

One table, string hash key ``pk`` and range key ``sk``; items use the low-level
attribute-value format of the DynamoDB API so boto3 and aioboto3 clients share them.

    pk                                  sk               what
    meta                                current          pointer: the generation served now
    gen#<G>                             manifest         counts, metrics, segments, categories
    gen#<G>#user#<user_id>              profile          Profile (recommendations, RFM, ...)
    gen#<G>#item#<product_id>           neighbours       Neighbours of one product
    gen#<G>#popular                     cat#<category>   PopularList ("cat#" alone: overall)
    gen#<G>#segment#<name>              user#<user_id>   SegmentMember (Query pages by sk)

Every item of a generation carries ``expires_at`` (epoch seconds, the table's TTL
attribute) so old generations disappear on their own; the pointer never expires.
Payloads are compact JSON in ``data``; the largest (a profile with 100 recommendations
and 200 purchases) stays around 10 KB, far below the 400 KB item limit.

Light imports only: the batch job imports this module too.
"""

from __future__ import annotations

import json
from typing import Any

from recsvc.models import (
    Manifest,
    Neighbours,
    PopularList,
    Profile,
    ScoredItem,
    SegmentInfo,
    SegmentMember,
)

Item = dict[str, dict[str, Any]]
Key = dict[str, dict[str, str]]

PK = "pk"
SK = "sk"
DATA = "data"
TTL_ATTRIBUTE = "expires_at"
GENERATION = "generation"
PUBLISHED_AT = "published_at"

POINTER_PK = "meta"
POINTER_SK = "current"

# Bounds the job enforces so items stay small and predictable.
MAX_RECOMMENDATIONS = 100
MAX_PURCHASED = 200
MAX_RECENT = 50
MAX_NEIGHBOURS = 50
MAX_POPULAR = 200


def key(pk: str, sk: str) -> Key:
    return {PK: {"S": pk}, SK: {"S": sk}}


def pointer_key() -> Key:
    return key(POINTER_PK, POINTER_SK)


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


# -- payload codecs ---------------------------------------------------------------------


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def _items_out(items: tuple[ScoredItem, ...]) -> list[list[Any]]:
    return [[i.product_id, round(i.score, 6), i.reason] for i in items]


def _items_in(raw: list[list[Any]]) -> tuple[ScoredItem, ...]:
    return tuple(ScoredItem(str(p), float(s), str(r)) for p, s, r in raw)


def _with_data(k: Key, payload: Any, expires_at: int | None) -> Item:
    item: Item = {**k, DATA: {"S": _dumps(payload)}}
    if expires_at is not None:
        item[TTL_ATTRIBUTE] = {"N": str(int(expires_at))}
    return item


def _data(item: Item) -> Any:
    return json.loads(item[DATA]["S"])


def encode_profile(generation: str, p: Profile, expires_at: int | None = None) -> Item:
    payload = {
        "u": p.user_id,
        "recs": _items_out(p.recommendations[:MAX_RECOMMENDATIONS]),
        "bought": list(p.purchased[:MAX_PURCHASED]),
        "recent": list(p.recent[:MAX_RECENT]),
        "aff": {c: round(v, 4) for c, v in p.category_affinity.items()},
        "rfm": p.rfm,
        "seg": list(p.segments),
    }
    return _with_data(profile_key(generation, p.user_id), payload, expires_at)


def decode_profile(item: Item) -> Profile:
    d = _data(item)
    return Profile(
        user_id=d["u"],
        recommendations=_items_in(d["recs"]),
        purchased=tuple(d["bought"]),
        recent=tuple(d.get("recent", ())),
        category_affinity=dict(d["aff"]),
        rfm=dict(d["rfm"]),
        segments=tuple(d["seg"]),
    )


def encode_neighbours(generation: str, n: Neighbours, expires_at: int | None = None) -> Item:
    payload = {
        "p": n.product_id,
        "cat": n.category,
        "stock": n.in_stock,
        "items": _items_out(n.items[:MAX_NEIGHBOURS]),
    }
    return _with_data(neighbours_key(generation, n.product_id), payload, expires_at)


def decode_neighbours(item: Item) -> Neighbours:
    d = _data(item)
    return Neighbours(d["p"], d["cat"], bool(d["stock"]), _items_in(d["items"]))


def encode_popular(generation: str, p: PopularList, expires_at: int | None = None) -> Item:
    payload = {"cat": p.category, "items": _items_out(p.items[:MAX_POPULAR])}
    return _with_data(popular_key(generation, p.category), payload, expires_at)


def decode_popular(item: Item) -> PopularList:
    d = _data(item)
    return PopularList(d["cat"], _items_in(d["items"]))


def encode_segment_member(
    generation: str, segment: str, m: SegmentMember, expires_at: int | None = None
) -> Item:
    payload = {"u": m.user_id, "email": m.email, "opt": m.marketing_opt_in, "a": m.attributes}
    return _with_data(segment_member_key(generation, segment, m.user_id), payload, expires_at)


def decode_segment_member(item: Item) -> SegmentMember:
    d = _data(item)
    return SegmentMember(d["u"], d["email"], bool(d["opt"]), {k: str(v) for k, v in d["a"].items()})


def encode_manifest(m: Manifest, expires_at: int | None = None) -> Item:
    payload = {
        "g": m.generation,
        "at": m.published_at,
        "counts": m.counts,
        "metrics": m.metrics,
        "segments": [[s.name, s.description, s.size] for s in m.segments],
        "categories": list(m.categories),
    }
    return _with_data(manifest_key(m.generation), payload, expires_at)


def decode_manifest(item: Item) -> Manifest:
    d = _data(item)
    return Manifest(
        generation=d["g"],
        published_at=d["at"],
        counts={k: int(v) for k, v in d["counts"].items()},
        metrics={k: float(v) for k, v in d["metrics"].items()},
        segments=tuple(SegmentInfo(n, desc, int(size)) for n, desc, size in d["segments"]),
        categories=tuple(d["categories"]),
    )


def encode_pointer(generation: str, published_at: str) -> Item:
    return {
        **pointer_key(),
        GENERATION: {"S": generation},
        PUBLISHED_AT: {"S": published_at},
    }


def decode_pointer(item: Item) -> tuple[str, str]:
    return item[GENERATION]["S"], item[PUBLISHED_AT]["S"]


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
