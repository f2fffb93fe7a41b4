"""``recsvc show``: any stored item of a generation as JSON, read from the store directly.

For people: support and operators read a profile, a product's neighbours or a manifest
without decoding protobuf by hand. Uses the service's settings (RECSVC_STORE, _TABLE,
_DYNAMODB_ENDPOINT_URL, ...) and no cache, so it shows what is stored, not what is cached.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from typing import Any

from generation import as_json, payloads
from recsvc.errors import NotFound, Unavailable
from recsvc.settings import Settings
from recsvc.store import ProfileStore, open_store

__all__ = ["KINDS", "show"]

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
