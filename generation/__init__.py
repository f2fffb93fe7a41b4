"""The published generation: the contract between the batch job and the service.

``profile_engine`` writes a generation and ``recsvc`` reads it; both import this package and
it imports neither (the suite checks it with import-linter). It holds:

    values.py    the stored value types (Profile, Neighbours, Manifest, ...)
    payloads.py  their protobuf payload codecs (messages in protos/generation/v1/)
    formats.py   the format version written, and the ones a reader understands
    layout.py    the DynamoDB layout: table, keys, items, TTL, the pointer
    data.py      GenerationData: what a writer publishes
    as_json.py   any stored payload as JSON, for people
    summaries.py per-generation summaries that outlive their generation (the console)
    details.py   products' names, prices and URLs for campaign exports, in buckets

Light imports only (protobuf and the standard library): both roles install it.
"""

from generation.data import GenerationData, NeighbourFacts
from generation.formats import FORMAT_VERSION, READABLE_FORMATS
from generation.values import (
    CatalogueFacts,
    HistoryEntry,
    Manifest,
    ModelChoice,
    ModelTrial,
    Neighbours,
    Pointer,
    PopularList,
    ProductFacts,
    Profile,
    ScoredItem,
    ScoredList,
    SegmentInfo,
    SegmentMember,
    rows,
)

__all__ = [
    "FORMAT_VERSION",
    "READABLE_FORMATS",
    "CatalogueFacts",
    "GenerationData",
    "HistoryEntry",
    "Manifest",
    "ModelChoice",
    "ModelTrial",
    "NeighbourFacts",
    "Neighbours",
    "Pointer",
    "PopularList",
    "ProductFacts",
    "Profile",
    "ScoredItem",
    "ScoredList",
    "SegmentInfo",
    "SegmentMember",
    "rows",
]
