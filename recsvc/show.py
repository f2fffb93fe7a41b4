"""``recsvc show``: any stored item of a generation as JSON, read from the store directly.

For people: support and operators read a profile, a product's neighbours or a manifest
without decoding protobuf by hand. Uses the service's settings (RECSVC_STORE, _TABLE,
_DYNAMODB_ENDPOINT_URL, ...) and no cache, so it shows what is stored, not what is cached.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from typing import Any

from generation import as_json, payloads
from recsvc.errors import NotFound, Unavailable
from recsvc.settings import Settings
from recsvc.store import ProfileStore, open_store

__all__ = ["KINDS", "compact_json", "show"]

# Lines of `compact_json` stay within this many characters where they can.
LINE_CHARS = 100
# Objects of at most this many plain values are rows (a ranked item has three).
ROW_FIELDS = 4

# What `show` reads, and whether it needs an id (a user, a product, a category, a segment).
KINDS = {
    "pointer": False,
    "manifest": False,
    "profile": True,
    "neighbours": True,
    "facts": True,
    "popular": False,
    "segment": True,
}


async def show(
    settings: Settings, kind: str, id_: str = "", generation: str = "", limit: int = 20
) -> dict[str, Any]:
    """The item as a JSON-ready dict. ``generation`` defaults to the one served;
    ``popular`` takes a category ("" for the overall list); ``segment`` lists up to
    ``limit`` members. Raises NotFound, Unavailable (and StoreUnavailable)."""
    store = await open_store(settings)
    try:
        pointer = await store.current_generation()
        if kind == "pointer":
            if pointer is None:
                raise NotFound("no generation is published")
            return asdict(pointer)
        gen = generation or (pointer.generation if pointer else "")
        if not gen:
            raise Unavailable("no generation is published: pass --generation")
        item = await _read(store, kind, id_, gen, limit)
        return {"generation": gen, "kind": kind, "id": id_, "item": item}
    finally:
        await store.aclose()


async def _read(store: ProfileStore, kind: str, id_: str, gen: str, limit: int) -> Any:
    if kind == "manifest":
        manifest = await store.get_manifest(gen)
        if manifest is None:
            raise NotFound(f"generation {gen} has no manifest (expired or unknown)")
        return as_json.payload_as_json("manifest", payloads.encode_manifest(manifest))
    if kind == "segment":
        members: list[dict[str, Any]] = []
        async for page in store.iter_segment_members(gen, id_, page_size=min(limit, 1000)):
            members += [as_json.payload_as_json("member", payloads.encode_segment_member(m))
                        for m in page[: limit - len(members)]]
            if len(members) >= limit:
                break
        return members
    readers: dict[str, Callable[[str, Sequence[str]], Awaitable[dict[str, bytes]]]] = {
        "profile": store.get_profiles,
        "neighbours": store.get_neighbours,
        "facts": store.get_facts,
        "popular": store.get_popular,
    }
    found = await readers[kind](gen, [id_])
    if id_ not in found:
        raise NotFound(f"no {kind} item for {id_!r} in generation {gen}")
    return as_json.payload_as_json(kind, found[id_])


def compact_json(value: Any, indent: int = 0, prefix: int = 0) -> str:
    """JSON for a terminal: a list or object that fits on its line (``prefix`` characters
    of it are taken already, a key say) is written on one, and so is a small object of
    plain values (a ranked item); larger ones one member a line, or for a list of plain values
    (ids), as many to a line as fit."""
    flat = json.dumps(value, ensure_ascii=False)
    fits = indent + prefix + len(flat) <= LINE_CHARS
    # A small object of plain values (a ranked item) stays one line, however long.
    row = (isinstance(value, dict) and len(value) <= ROW_FIELDS
           and not any(isinstance(v, dict | list) for v in value.values()))
    if not isinstance(value, dict | list) or fits or row:
        return flat
    pad = " " * (indent + 2)
    if isinstance(value, dict):
        keys = {k: json.dumps(k, ensure_ascii=False) for k in value}
        members = [f"{pad}{keys[k]}: {compact_json(v, indent + 2, len(keys[k]) + 2)}"
                   for k, v in value.items()]
        return "{\n" + ",\n".join(members) + "\n" + " " * indent + "}"
    if not any(isinstance(v, dict | list) for v in value):
        return "[\n" + _filled([json.dumps(v, ensure_ascii=False) for v in value], pad) + \
            "\n" + " " * indent + "]"
    items = [pad + compact_json(v, indent + 2) for v in value]
    return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"


def _filled(words: list[str], pad: str) -> str:
    """Scalars of a long list, as many to a line as fit (ids read best that way)."""
    lines: list[str] = []
    line = ""
    for word in words:
        if line and len(pad) + len(line) + len(word) + 2 > LINE_CHARS:
            lines.append(pad + line + ",")
            line = ""
        line = f"{line}, {word}" if line else word
    return "\n".join([*lines, pad + line])
