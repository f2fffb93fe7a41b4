"""The served generation's history, and rollback to an earlier generation.

Every change of the pointer is appended to the history item (``meta/history``): a run's
flip ("published") and a rollback ("rolled back"). ``list_generations`` shows each
generation of the history with its manifest (counts, quality, model, format) and whether
it can still be served; ``rollback`` flips the pointer back to one that can (its manifest is
there, so all its items were written; it does not expire within ``EXPIRY_MARGIN_S``; this
version reads its format; when it was published by import, its own table is still there),
with the same conditional write as a run's flip, naming that generation's table. The
service follows the pointer within its refresh period. `profile-engine generations` and
`profile-engine rollback` call this; so will the console.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from generation import READABLE_FORMATS, HistoryEntry, Manifest, layout, payloads
from profile_engine import generation_tables
from profile_engine.errors import NothingServed, RollbackRefused
from profile_engine.history import history, now_iso, record_flip
from profile_engine.publish import flip_pointer
from profile_engine.served import ServedTable

log = logging.getLogger(__name__)

# A generation whose items expire sooner than this is not rolled back to: readers would
# lose it mid-way (TTL deletes items item by item, within days of the expiry).
EXPIRY_MARGIN_S = 3600


@dataclass(frozen=True)
class GenerationInfo:
    generation: str
    action: str  # how it last became served ("published", "rolled back"), or "" if never
    at: str  # when
    served: bool
    manifest: Manifest | None  # None: expired, or never completely written
    expires_at: int | None  # epoch seconds of its items' TTL
    why_not: str  # "" when it can be served; else why a rollback to it is refused
    table: str = ""  # the table holding its items; "": the pointer's own (the fixed table)


def list_generations(client: Any, table: str, now: float | None = None) -> list[GenerationInfo]:
    """Generations of the history, newest change first (each once), the served one
    included even when it predates the history."""
    now = time.time() if now is None else now
    pointer = ServedTable(client, table).pointer()
    served = pointer.generation if pointer else None
    entries, _ = history(client, table)
    latest: dict[str, HistoryEntry] = {}
    for e in entries:
        latest.pop(e.generation, None)
        latest[e.generation] = e  # re-inserted: dict order is last-change order
    order = list(reversed(latest))
    if served and served not in latest:
        order.insert(0, served)
    return [generation_info(client, table, g, latest.get(g), g == served, now) for g in order]


def generation_info(
    client: Any, table: str, generation: str, entry: HistoryEntry | None, served: bool,
    now: float,
) -> GenerationInfo:
    """What ``table`` knows of ``generation`` (its manifest, expiry, table) and whether
    the pointer may be flipped to it."""
    item = client.get_item(
        TableName=table, Key=layout.manifest_key(generation), ConsistentRead=True
    ).get("Item")
    manifest = payloads.decode_manifest(layout.payload(item)) if item else None
    ttl = item.get(layout.TTL_ATTRIBUTE) if item else None
    expires = int(ttl["N"]) if ttl else None
    data_table = layout.manifest_table(item) if item else ""
    why = ""
    if manifest is None:
        why = "its manifest is gone: expired, or never completely written"
    elif expires is not None and expires < now + EXPIRY_MARGIN_S:
        left = "expired" if expires <= now else f"expires in {int(expires - now)} s"
        why = f"its items {left} (TTL); the margin is {EXPIRY_MARGIN_S} s"
    elif manifest.format_version not in READABLE_FORMATS:
        why = (f"written in payload format {manifest.format_version}; this version reads "
               f"{sorted(READABLE_FORMATS)}")
    elif data_table and (status := generation_tables.state(client, data_table)) != "ACTIVE":
        why = (f"its table {data_table} is gone (deleted once the generation left the "
               "rollback window)" if status is None else f"its table {data_table} is {status}")
    return GenerationInfo(
        generation,
        entry.action if entry else "",
        entry.at if entry else (manifest.published_at if manifest else ""),
        served,
        manifest,
        expires,
        why,
        data_table,
    )


def rollback(client: Any, table: str, to: str | None = None, now: float | None = None) -> (
    HistoryEntry
):
    """Serve ``to`` (default: the newest other generation that can still be served) instead
    of the served one. Raises NothingServed, RollbackRefused (unknown, expired, unreadable
    or already served), PublishError (another run flipped the pointer meanwhile)."""
    pointer = ServedTable(client, table).pointer()
    if pointer is None:
        raise NothingServed(f"table {table} serves no generation: nothing to roll back")
    known = list_generations(client, table, now)
    if to is None:
        usable = [g for g in known if not g.served and not g.why_not]
        if not usable:
            raise RollbackRefused(
                f"no earlier generation of {table} can be served: "
                + "; ".join(f"{g.generation}: {g.why_not}" for g in known if not g.served)
                if len(known) > 1 else f"{table} has no earlier generation in its history"
            )
        target = usable[0]
    else:
        found = [g for g in known if g.generation == to]
        if found:
            target = found[0]
        else:  # not in the history (published before it existed?): its manifest decides
            target = generation_info(client, table, to, None, False,
                                     time.time() if now is None else now)
            if target.manifest is None:
                raise RollbackRefused(f"unknown generation {to!r} in {table}: no manifest")
    if target.served or target.generation == pointer.generation:
        raise RollbackRefused(f"{target.generation} is already served")
    if target.why_not:
        raise RollbackRefused(f"cannot roll back to {target.generation}: {target.why_not}")
    assert target.manifest is not None
    flip_pointer(client, table, target.generation, target.manifest.published_at,
                 pointer.generation, target.manifest.format_version, target.table)
    entry = HistoryEntry(target.generation, now_iso(), "rolled back", pointer.generation)
    record_flip(client, table, entry)
    log.warning("rolled back %s from %s to %s", table, pointer.generation, target.generation)
    return entry
