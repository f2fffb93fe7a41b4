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
    field shown (zero values too, so a reader sees "in_stock": false, not nothing)."""
    message = KINDS[kind].FromString(raw)
    result: dict[str, Any] = json_format.MessageToDict(
        message,
        preserving_proto_field_name=True,
        always_print_fields_with_no_presence=True,
    )
    return result
