"""Generation summaries: the small per-generation items that outlive their generation.

The job writes one per published generation, in the table that holds the pointer, with no
TTL; the console's charts (quality, counts, segment sizes over the last 90 generations)
read only these, never a generation's own items, so a page stays fast whatever the shop's
size and keeps working after the generations themselves expired.

    pk        sk                              data
    summary   <published_at>#<generation>     GenerationSummary (payloads.proto)

The sort key orders summaries by publication time, so "the last N" is one Query with
``ScanIndexForward=False`` (see ``summaries_query``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

from generation.v1 import payloads_pb2 as pb

__all__ = [
    "SUMMARY_PK",
    "GenerationSummary",
    "SegmentSummary",
    "decode_summary",
    "decode_summary_item",
    "encode_summary",
    "membership_file",
    "segment_of_file",
    "summaries_query",
    "summary_item",
    "summary_key",
]

SUMMARY_PK = "summary"

Item = dict[str, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class SegmentSummary:
    name: str
    rule: str = ""
    size: int = 0
    reachable: int = 0  # opted in to marketing and with an e-mail address
    joined: int = 0  # members now, not in the previous generation (0 without one)
    left: int = 0  # members of the previous generation, not now


@dataclass(frozen=True, slots=True)
class GenerationSummary:
    generation: str
    published_at: str
    counts: Mapping[str, int] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    model: str = ""
    segments: tuple[SegmentSummary, ...] = ()
    previous: str = ""  # the generation joined/left compare with; "" when none
    membership_url: str = ""  # prefix holding <segment>.parquet; "" when not written


def encode_summary(s: GenerationSummary) -> bytes:
    message = pb.GenerationSummary(
        generation=s.generation, published_at=s.published_at, counts=dict(s.counts),
        metrics=dict(s.metrics), model=s.model, previous=s.previous,
        membership_url=s.membership_url,
        segments=[pb.SegmentSummary(name=g.name, rule=g.rule, size=g.size,
                                    reachable=g.reachable, joined=g.joined, left=g.left)
                  for g in s.segments],
    )
    return message.SerializeToString(deterministic=True)


def decode_summary(raw: bytes) -> GenerationSummary:
    m = pb.GenerationSummary.FromString(raw)
    return GenerationSummary(
        generation=m.generation, published_at=m.published_at,
        counts=dict(sorted(m.counts.items())), metrics=dict(sorted(m.metrics.items())),
        model=m.model, previous=m.previous, membership_url=m.membership_url,
        segments=tuple(SegmentSummary(g.name, g.rule, g.size, g.reachable, g.joined, g.left)
                       for g in m.segments),
    )


def membership_file(segment: str) -> str:
    """The file name of ``segment``'s members under a summary's ``membership_url``:
    percent-encoded, so any segment name is one path component ("affinity:home & garden"
    -> "affinity:home%20%26%20garden.parquet")."""
    return f"{quote(segment, safe=':')}.parquet"


def segment_of_file(name: str) -> str:
    """The segment a membership file name holds (``membership_file`` reversed)."""
    return unquote(name.removesuffix(".parquet"))


def summary_key(published_at: str, generation: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": SUMMARY_PK}, "sk": {"S": f"{published_at}#{generation}"}}


def summary_item(s: GenerationSummary) -> Item:
    """The item to put (no ``expires_at``: a summary outlives its generation)."""
    return {**summary_key(s.published_at, s.generation), "data": {"B": encode_summary(s)}}


def decode_summary_item(item: Item) -> GenerationSummary:
    return decode_summary(item["data"]["B"])


def summaries_query(table: str, limit: int = 90) -> dict[str, Any]:
    """Query arguments for the newest ``limit`` summaries, newest first."""
    return {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": SUMMARY_PK}},
        "ScanIndexForward": False,
        "Limit": limit,
    }
