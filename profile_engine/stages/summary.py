"""The generation's summary (generation/summaries.py): written next to the pointer right
after the flip, so a summary never names a generation that was not served; a run that
fails before the flip leaves none."""

from __future__ import annotations

import logging
from typing import Any

from generation import Manifest, details, layout
from generation.summaries import GenerationSummary, SegmentSummary, summary_item
from profile_engine.stages.membership import Membership, SegmentFigures

log = logging.getLogger(__name__)

# Counts that describe the layout, not the shop: not charted.
LAYOUT_COUNTS = frozenset({layout.CATALOGUE_PARTS, details.DETAILS_BUCKETS})


def build(manifest: Manifest, membership: Membership) -> GenerationSummary:
    """The manifest's figures and every segment it lists with its membership figures."""
    empty = SegmentFigures(0, 0)
    segments = []
    for info in manifest.segments:
        f = membership.segments.get(info.name, empty)
        segments.append(SegmentSummary(info.name, info.description, info.size, f.reachable,
                                       f.joined, f.left))
    return GenerationSummary(
        generation=manifest.generation,
        published_at=manifest.published_at,
        counts={k: v for k, v in manifest.counts.items() if k not in LAYOUT_COUNTS},
        metrics=dict(manifest.metrics),
        model=manifest.model.served if manifest.model is not None else "",
        segments=tuple(segments),
        previous=membership.previous,
        membership_url=membership.url,
    )


def write(client: Any, table: str, summary: GenerationSummary) -> bool:
    """Put the summary (boto3 client); False, logged, when it could not be written: the
    generation is served already and stays so."""
    try:
        client.put_item(TableName=table, Item=summary_item(summary))
    except Exception:
        log.warning("generation %s is served but its summary was not written",
                    summary.generation, exc_info=True)
        return False
    return True
