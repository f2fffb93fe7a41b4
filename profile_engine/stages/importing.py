"""Publishing a run's generation by import from S3: which runs do, and the run's import.

The workers stage the items of their partitions as import files (the tasks of the writes
path, ``publish_workers``, with a StagingTarget), the driver the popular lists and the
catalogue; then ``publish_import.complete`` imports, checks, flips and sweeps.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pandas as pd

from generation import Manifest, details, layout
from profile_engine import (
    generation_tables,
    import_files,
    publish_import,
    publish_workers,
    retention,
)
from profile_engine.compute import assemble, segment_rules
from profile_engine.publish import PublishReport, current_generation, expiry
from profile_engine.run_report import RunReport
from profile_engine.settings import EngineSettings
from profile_engine.stages.inputs import Catalogue
from profile_engine.stages.job import Job
from profile_engine.stages.publishing import ProfileParts, catalogue_facts, new_manifest

log = logging.getLogger(__name__)


def expected_items(report: RunReport) -> int:
    """The generation's items, known before anything is written: a profile per user, a
    member item per segment membership, a neighbour list per product that has one, the
    popular lists (the manifest and a few catalogue parts aside)."""
    c = report.counts
    return (c.get("users", 0) + sum(report.segments.values()) + c.get("neighbour_lists", 0)
            + c.get("popular_lists", 0))


def by_import(settings: EngineSettings, report: RunReport) -> bool:
    """Whether this run publishes by import (publish_mode, and its size for auto)."""
    if settings.publish_mode == "auto":
        return expected_items(report) >= settings.import_min_items
    return settings.publish_mode == "import"


def publish_by_import(
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
    """The run's generation, staged by the workers and the driver, imported into a table
    of its own, then served; the report records the figures. Returns the manifest served."""
    settings, report, catalog = job.settings, job.report, catalogue.catalog
    assert settings.import_staging is not None  # the settings require it for import
    manifest, buckets = details.with_details_count(
        new_manifest(report, catalogue, specs, as_of_ms, generation), catalogue.details)
    gen = manifest.generation
    expires = expiry(settings.ttl_days)
    published = PublishReport(generation=gen)
    published.previous_generation = current_generation(dynamodb, settings.table)
    where = publish_import.staging(settings.import_staging, gen, settings.aws_region,
                                   settings.s3_endpoint_url)
    target = publish_workers.StagingTarget(where, gen, expires)
    slices = publish_workers.neighbour_slices(
        neighbours, publish_workers.NEIGHBOUR_SLICES_PER_WORKER * job.workers
    )
    started = time.perf_counter()
    first_file = time.time()
    written = publish_workers.run_tasks(job.client, publish_workers.tasks_for(
        [list(ps) for ps in parts.per_partition()], slices, catalogue.ref, target))
    s3 = import_files.s3_client(settings.aws_region, settings.s3_endpoint_url)
    driver = import_files.stage(s3, where, "driver-00000", [
        ("popular", (layout.popular_item(gen, p, expires)
                     for p in assemble.popular_lists(popular, catalog))),
        ("catalogue", layout.catalogue_items(gen, catalogue_facts(catalog), expires)),
        *([("details", details.details_items(gen, catalogue.details, buckets, expires))]
          if catalogue.details is not None else []),
    ])
    on_workers = time.perf_counter() - started
    for items in (*(w.items for w in written), driver.items):
        for name, n in items.items():
            published.items[name] = published.items.get(name, 0) + n
    starts = [w.started_at for w in written if w.started_at] + [driver.started_at]
    first_file = min(starts) if starts else first_file
    table = generation_tables.table_name(settings.generation_tables, gen)
    figures = publish_import.complete(
        dynamodb, s3, settings.table, manifest, expires, published, where, table,
        sum(published.items.values()), settings.import_timeout_s, settings.generation_tables)
    figures.staging_s = on_workers
    figures.first_file_to_flip_s = time.time() - first_file
    figures.files, figures.json_bytes, figures.gzip_bytes = (
        driver.files + sum(w.files for w in written),
        driver.json_bytes + sum(w.json_bytes for w in written),
        driver.gzip_bytes + sum(w.gzip_bytes for w in written),
    )
    report.generation, report.previous_generation = gen, published.previous_generation
    report.published = dict(published.items)
    summary = publish_workers.summarize(written)
    report.publish = {
        **summary,
        "mode": "import",
        "seconds_on_workers": round(on_workers, 2),
        "items_per_s": round(summary["items"] / on_workers, 1) if on_workers else 0.0,
        "import": figures.as_dict(),
    }
    log.info("generation %s imported into %s: %d items, %.1f s from the first file to the flip",
             gen, table, figures.items, figures.first_file_to_flip_s)
    return manifest


def sweep_tables(job: Job, dynamodb: Any) -> None:
    """After a run published by writes in auto mode: the tables of earlier imported
    generations out of the rollback window go all the same (never fails the run)."""
    try:
        retention.sweep(dynamodb, job.settings.table, job.settings.generation_tables)
    except Exception:
        log.warning("could not sweep old generation tables", exc_info=True)
