"""The generation a run publishes, assembled in one place (manifest, item streams), written."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import dask.dataframe as dd
import pandas as pd
from dask.delayed import delayed

from generation import CatalogueFacts, GenerationData, Manifest, SegmentInfo, details, layout
from profile_engine import partitions, publish_workers
from profile_engine.compute import assemble, segment_rules
from profile_engine.compute.catalog import Catalog
from profile_engine.publish import (
    PublishReport,
    current_generation,
    expiry,
    finish,
    publish,
    write_items,
)
from profile_engine.run_report import RunReport
from profile_engine.stages.clock import iso, now_ms
from profile_engine.stages.inputs import Catalogue
from profile_engine.stages.job import Job

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProfileParts:
    """The persisted per-user frames a published profile is made of; partition i of each
    holds the same users."""

    summary: dd.DataFrame
    segments: dd.DataFrame
    items: dd.DataFrame
    affinity: dd.DataFrame
    recs: dd.DataFrame

    def per_partition(self) -> list[tuple[Any, ...]]:
        """Each user-partition's delayed (summary, segments, items, affinity, recs)."""
        frames = (self.summary, self.segments, self.items, self.affinity, self.recs)
        return list(zip(*(f.to_delayed() for f in frames), strict=True))


def assemble_generation(
    job: Job,
    catalogue: Catalogue,
    specs: tuple[segment_rules.SegmentSpec, ...],
    parts: ProfileParts,
    neighbours: pd.DataFrame,
    popular: pd.DataFrame,
    as_of_ms: int,
    generation: str,
) -> GenerationData:
    """The manifest, and the profiles and segment members as streams computed a few
    partitions ahead of the writes (memory stays bounded)."""
    client, catalog = job.client, catalogue.catalog
    ahead = 2 * job.workers
    profile_tasks = [
        delayed(partitions.profiles_of)(*ps, catalogue.ref) for ps in parts.per_partition()
    ]
    member_tasks = [
        delayed(assemble.segment_members)(s, g)
        for s, g in zip(parts.summary.to_delayed(), parts.segments.to_delayed(), strict=True)
    ]
    return GenerationData(
        manifest=new_manifest(job.report, catalogue, specs, as_of_ms, generation),
        profiles=partitions.stream(client, profile_tasks, ahead),
        neighbours=assemble.neighbour_lists(neighbours, catalog),
        popular=assemble.popular_lists(popular, catalog),
        segment_members=partitions.stream(client, member_tasks, ahead),
        catalogue=catalogue_facts(catalog),
        details=catalogue.details,
    )


def catalogue_facts(catalog: Catalog) -> CatalogueFacts:
    return CatalogueFacts(catalog.categories, catalog.ids.tolist(),
                          catalog.category_codes.tolist(), catalog.in_stock.tolist())


def segment_names(report: RunReport, specs: tuple[segment_rules.SegmentSpec, ...]) -> list[str]:
    """Every segment the generation lists, sorted: all the file defines, empty ones too
    (per-category ones when they have members)."""
    return sorted(set(report.segments) | {s.name for s in specs if not s.for_each})


def new_manifest(
    report: RunReport,
    catalogue: Catalogue,
    specs: tuple[segment_rules.SegmentSpec, ...],
    as_of_ms: int,
    generation: str,
) -> Manifest:
    """A new generation's manifest: the report's figures and every segment with its size."""
    categories = catalogue.catalog.categories
    described = segment_rules.descriptions(specs, categories)
    names = segment_names(report, specs)
    return Manifest(
        generation=generation,
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


def publish_generation(job: Job, dynamodb: Any, data: GenerationData) -> Manifest:
    """Write the generation and flip the pointer; the report records what was written.
    Returns the manifest served."""
    settings, report = job.settings, job.report
    published = publish(dynamodb, settings.table, data, ttl_days=settings.ttl_days)
    report.generation, report.previous_generation = (
        published.generation,
        published.previous_generation,
    )
    report.published = dict(published.items)
    return data.manifest


def publish_from_workers(
    job: Job,
    dynamodb: Any,
    catalogue: Catalogue,
    specs: tuple[segment_rules.SegmentSpec, ...],
    parts: ProfileParts,
    neighbours: pd.DataFrame,
    popular: pd.DataFrame,
    as_of_ms: int,
    generation: str,
) -> Manifest:
    """The same generation as ``assemble_generation`` + ``publish_generation``, written by
    the workers (``publish_workers``): profiles and segment members by the task of their
    user-partition, neighbour lists in slices; the popular lists, the catalogue parts and
    details, the manifest and the flip here, last. Returns the manifest served."""
    settings, report, catalog = job.settings, job.report, catalogue.catalog
    manifest, buckets = details.with_details_count(
        new_manifest(report, catalogue, specs, as_of_ms, generation), catalogue.details)
    gen, table = manifest.generation, settings.table
    expires = expiry(settings.ttl_days)
    published = PublishReport(generation=gen)
    published.previous_generation = current_generation(dynamodb, table)
    target = publish_workers.Target(table, settings.aws_region, settings.dynamodb_endpoint_url,
                                    gen, expires, settings.publish_in_flight)
    frames = [list(ps) for ps in parts.per_partition()]
    slices = publish_workers.neighbour_slices(
        neighbours, publish_workers.NEIGHBOUR_SLICES_PER_WORKER * job.workers
    )
    started = time.perf_counter()
    written = publish_workers.run_tasks(
        job.client, publish_workers.tasks_for(frames, slices, catalogue.ref, target)
    )
    on_workers = time.perf_counter() - started
    for w in written:
        for name, n in w.items.items():
            published.items[name] = published.items.get(name, 0) + n
    for name, n in published.items.items():
        log.info("published %d %s items of generation %s", n, name, gen)
    published.items["popular"] = write_items(dynamodb, table, (
        layout.popular_item(gen, p, expires) for p in assemble.popular_lists(popular, catalog)
    ), published)
    published.items["catalogue"] = write_items(
        dynamodb, table, layout.catalogue_items(gen, catalogue_facts(catalog), expires), published
    )
    if catalogue.details is not None:
        published.items["details"] = write_items(dynamodb, table, details.details_items(
            gen, catalogue.details, buckets, expires), published)
    finish(dynamodb, table, manifest, expires, published)
    report.generation, report.previous_generation = gen, published.previous_generation
    report.published = dict(published.items)
    summary = publish_workers.summarize(written)
    report.publish = {
        **summary,
        "seconds_on_workers": round(on_workers, 2),
        "items_per_s": round(summary["items"] / on_workers, 1) if on_workers else 0.0,
        "in_flight_per_worker": settings.publish_in_flight,
    }
    return manifest
