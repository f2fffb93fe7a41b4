"""Any stored payload as JSON, for people: the protobuf messages' canonical JSON mapping."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format

from generation.v1 import payloads_pb2 as pb

__all__ = ["KINDS", "payload_as_json"]

# The stored kinds by the name people use for them (and the show command takes).
KINDS: dict[str, Any] = {
    "profile": pb.Profile,
    "neighbours": pb.Neighbours,
    "facts": pb.ProductFacts,
    "popular": pb.PopularList,
    "member": pb.SegmentMember,
    "manifest": pb.Manifest,
}


def payload_as_json(kind: str, raw: bytes) -> dict[str, Any]:
    """The payload of ``kind`` as a JSON-ready dict: field names as in the .proto, every
    field shown (zero values too, so a reader sees "in_stock": false, not nothing), maps
    in key order, and a ranked list (ScoredItems' parallel arrays) as one row per item, as
    people read it."""
    message = KINDS[kind].FromString(raw)
    result: dict[str, Any] = json_format.MessageToDict(
        message,
        preserving_proto_field_name=True,
        always_print_fields_with_no_presence=True,
    )
    maps = {f.name for f in message.DESCRIPTOR.fields
            if f.message_type is not None and f.message_type.GetOptions().map_entry}
    return {
        name: dict(sorted(value.items())) if name in maps else _rows(value)
        for name, value in result.items()
    }


def _rows(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == _SCORED_ITEMS:
        return [
            {"product_id": p, "score": s, "reason": r}
            for p, s, r in zip(
                value["product_ids"], value["scores"], value["reasons"], strict=True
            )
        ]
    return value


_SCORED_ITEMS = {"product_ids", "scores", "reasons"}
