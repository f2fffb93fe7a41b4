"""Chart data from generation summaries (newest first in, oldest first out), as the JSON
the page embeds and static/console.js draws."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from generation.summaries import GenerationSummary

__all__ = ["QUALITY", "counts_chart", "quality_chart", "segment_chart"]

# The manifest metrics the quality chart draws, with their labels.
QUALITY = (("ndcg@10", "NDCG@10"), ("coverage@10", "Coverage@10"))
# Counts that are bookkeeping, not the shop's size.
HIDDEN_COUNTS = frozenset({"catalogue_parts"})
# The counts the chart draws when the job reports them (the manifest has a dozen more).
CHARTED_COUNTS = ("users", "profiles", "products", "events", "input_events_valid",
                  "recommendations")


def _labels(summaries: Sequence[GenerationSummary]) -> list[str]:
    return [s.published_at[:10] for s in summaries]


def quality_chart(newest_first: Sequence[GenerationSummary]) -> dict[str, Any]:
    summaries = list(reversed(newest_first))
    return {"labels": _labels(summaries), "series": [
        {"label": label, "data": [s.metrics.get(key) for s in summaries]}
        for key, label in QUALITY if any(key in s.metrics for s in summaries)
    ]}


def counts_chart(newest_first: Sequence[GenerationSummary]) -> dict[str, Any]:
    summaries = list(reversed(newest_first))
    present = {k for s in summaries for k in s.counts} - HIDDEN_COUNTS
    keys = [k for k in CHARTED_COUNTS if k in present] or sorted(present)
    return {"labels": _labels(summaries), "series": [
        {"label": key, "data": [s.counts.get(key) for s in summaries]} for key in keys
    ]}


def segment_chart(newest_first: Sequence[GenerationSummary], name: str) -> dict[str, Any]:
    summaries = list(reversed(newest_first))
    sizes: list[int | None] = []
    reachable: list[int | None] = []
    for s in summaries:
        found = next((g for g in s.segments if g.name == name), None)
        sizes.append(found.size if found else None)
        reachable.append(found.reachable if found else None)
    return {"labels": _labels(summaries), "series": [
        {"label": "size", "data": sizes}, {"label": "reachable", "data": reachable}]}
