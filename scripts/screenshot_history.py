"""History for the console's screenshots: the summary of each generation the job really
published (read from its manifest and segment members, when the job did not write one),
and made-up older nights leading up to the first (loopback.console.history), so the
charts show 90 generations after two real runs."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from generation import layout, payloads
from generation.summaries import (
    GenerationSummary,
    SegmentSummary,
    decode_summary_item,
    summaries_query,
)
from loopback.console import history, put_summaries

__all__ = ["fill_history"]


def _members(client: Any, table: str, generation: str, segment: str) -> tuple[set[str], int]:
    """(member ids, reachable count) of one segment, page by page."""
    query = layout.segment_page_query(table, generation, segment, 1000)
    ids: set[str] = set()
    reachable = 0
    start: dict[str, Any] | None = None
    while True:
        resp = client.query(**query, **({"ExclusiveStartKey": start} if start else {}))
        for item in resp.get("Items", []):
            m = payloads.decode_segment_member(layout.payload(item))
            ids.add(m.user_id)
            reachable += bool(m.marketing_opt_in and m.email)
        start = resp.get("LastEvaluatedKey")
        if not start:
            return ids, reachable


def _published(client: Any, table: str) -> list[str]:
    item = client.get_item(TableName=table, Key=layout.history_key()).get("Item")
    entries, _ = layout.decode_history(item) if item else ((), 0)
    return [e.generation for e in entries if e.action == "published"]


def _real_summaries(client: Any, table: str) -> list[GenerationSummary]:
    """A summary per published generation, oldest first: the job's own where it wrote
    one, else made from the manifest and the members (joined/left against the previous)."""
    written = {s.generation: s for s in (
        decode_summary_item(i)
        for i in client.query(**summaries_query(table, 1000)).get("Items", []))}
    out: list[GenerationSummary] = []
    before: dict[str, set[str]] = {}
    previous = ""
    made = []
    for gen in _published(client, table):
        raw = client.get_item(TableName=table, Key=layout.manifest_key(gen)).get("Item")
        if raw is None:
            continue
        manifest = payloads.decode_manifest(layout.payload(raw))
        now: dict[str, set[str]] = {}
        parts = []
        for info in manifest.segments:
            ids, reachable = _members(client, table, gen, info.name)
            now[info.name] = ids
            joined = len(ids - before.get(info.name, set())) if previous else 0
            left = len(before.get(info.name, set()) - ids) if previous else 0
            parts.append(SegmentSummary(info.name, info.description, len(ids), reachable,
                                        joined, left))
        summary = written.get(gen) or GenerationSummary(
            generation=gen, published_at=manifest.published_at, counts=manifest.counts,
            metrics=manifest.metrics, model=manifest.model.served if manifest.model else "",
            segments=tuple(parts), previous=previous)
        if gen not in written:
            made.append(summary)
        out.append(summary)
        before, previous = now, gen
    put_summaries(client, table, made)
    return out


def fill_history(client: Any, table: str, generations: int = 90) -> int:
    """Summaries for the real generations, and made-up older ones up to ``generations``
    in all; returns how many were made up."""
    real = _real_summaries(client, table)
    if not real or len(real) >= generations:
        return 0
    first = real[0]
    end = datetime.fromisoformat(first.published_at) - timedelta(days=1)
    older = history(generations - len(real), [(g.name, g.rule) for g in first.segments],
                    end=end, toward=first)
    put_summaries(client, table, older)
    return len(older)
