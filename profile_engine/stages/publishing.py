"""The generation a run publishes, assembled in one place (manifest, item streams), written."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dask.dataframe as dd
import pandas as pd
from dask.delayed import delayed

from generation import CatalogueFacts, GenerationData, Manifest, SegmentInfo
from profile_engine import partitions
from profile_engine.compute import assemble, segment_rules
from profile_engine.publish import new_generation_id, publish
from profile_engine.run_report import RunReport
from profile_engine.stages.clock import iso, now_ms
from profile_engine.stages.inputs import Catalogue
from profile_engine.stages.job import Job


@dataclass(frozen=True)
class ProfileParts:
    """The persisted per-user frames a published profile is made of; partition i of each
    holds the same users."""

    summary: dd.DataFrame
    segments: dd.DataFrame
    items: dd.DataFrame
    affinity: dd.DataFrame
    recs: dd.DataFrame


def assemble_generation(
    job: Job,
    catalogue: Catalogue,
    specs: tuple[segment_rules.SegmentSpec, ...],
    parts: ProfileParts,
    neighbours: pd.DataFrame,
    popular: pd.DataFrame,
    as_of_ms: int,
) -> GenerationData:
    """The manifest, and the profiles and segment members as streams computed a few
    partitions ahead of the writes (memory stays bounded)."""
    client, catalog = job.client, catalogue.catalog
    ahead = 2 * job.workers
    profile_tasks = [
        delayed(partitions.profiles_of)(*ps, catalogue.ref)
        for ps in zip(
            parts.summary.to_delayed(),
            parts.segments.to_delayed(),
            parts.items.to_delayed(),
            parts.affinity.to_delayed(),
            parts.recs.to_delayed(),
            strict=True,
        )
    ]
    member_tasks = [
        delayed(assemble.segment_members)(s, g)
        for s, g in zip(parts.summary.to_delayed(), parts.segments.to_delayed(), strict=True)
    ]
    return GenerationData(
        manifest=_manifest(job.report, catalogue, specs, as_of_ms),
        profiles=partitions.stream(client, profile_tasks, ahead),
        neighbours=assemble.neighbour_lists(neighbours, catalog),
        popular=assemble.popular_lists(popular, catalog),
        segment_members=partitions.stream(client, member_tasks, ahead),
        catalogue=CatalogueFacts(catalog.categories, catalog.ids.tolist(),
                                 catalog.category_codes.tolist(), catalog.in_stock.tolist()),
    )


def _manifest(
    report: RunReport,
    catalogue: Catalogue,
    specs: tuple[segment_rules.SegmentSpec, ...],
    as_of_ms: int,
) -> Manifest:
    """A new generation's manifest: the report's figures and every segment with its size."""
    categories = catalogue.catalog.categories
    described = segment_rules.descriptions(specs, categories)
    # Every segment the file defines is listed, empty ones too (per-category ones when
    # they have members).
    names = sorted(set(report.segments) | {s.name for s in specs if not s.for_each})
    return Manifest(
        generation=new_generation_id(),
        published_at=iso(now_ms()),
        counts={
            **report.counts,
            **{f"input_{k}": v for k, v in report.inputs.items()},
            "bad_lines": report.bad_total,
        },
        metrics={**report.metrics, "as_of_epoch_ms": float(as_of_ms)},
        segments=tuple(
            SegmentInfo(s, described.get(s, s), report.segments.get(s, 0)) for s in names
        ),
        categories=categories,
        model=report.model,
    )


def publish_generation(job: Job, dynamodb: Any, data: GenerationData) -> None:
    """Write the generation and flip the pointer; the report records what was written."""
    settings, report = job.settings, job.report
    published = publish(dynamodb, settings.table, data, ttl_days=settings.ttl_days)
    report.generation, report.previous_generation = (
        published.generation,
        published.previous_generation,
    )
    report.published = dict(published.items)
