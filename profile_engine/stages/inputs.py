"""The stages that read the inputs: the catalogue, the event files, the replica tables' plan."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from profile_engine.compute.catalog import UNCATEGORIZED, Catalog
from profile_engine.compute.product_details import CatalogueDetails
from profile_engine.errors import InputError
from profile_engine.sources import events as event_source
from profile_engine.sources import replica
from profile_engine.stages.clock import iso, now_ms
from profile_engine.stages.job import Job


@dataclass(frozen=True)
class Catalogue:
    """The product catalogue, and its copy scattered to every worker: a task ships the
    reference instead of the arrays."""

    catalog: Catalog
    ref: Any  # a distributed Future of ``catalog``
    # Names, prices and URLs for campaign exports (driver only); None: not published.
    details: CatalogueDetails | None = None


@dataclass(frozen=True)
class ReplicaReads:
    """The replica tables the shuffle reads, cut into key ranges (read by the tasks)."""

    customers: replica.TableRead
    lines: replica.TableRead  # order lines


def load_catalogue(job: Job) -> Catalogue:
    """Read the products table whole and broadcast it."""
    settings, report = job.settings, job.report
    products = replica.read_table(
        settings.replica_url, "products", replica.PRODUCTS, settings.partition_rows
    )
    report.warnings += products.warnings
    if products.frame is None:
        raise InputError("the replica has no usable products table (product_id is required)")
    frame = products.frame.compute()
    catalog = Catalog.from_frame(frame)
    if len(catalog) == 0:
        raise InputError("the products table is empty")
    report.inputs["products"] = len(catalog)
    uncategorized = int(
        (np.asarray(catalog.categories)[catalog.category_codes] == UNCATEGORIZED).sum()
    )
    if uncategorized:
        report.warnings.append(f"{uncategorized} products without a category: '{UNCATEGORIZED}'")
    return Catalogue(catalog, job.client.scatter(catalog, broadcast=True, hash=False),
                     CatalogueDetails.from_frame(frame, catalog))


def read_events(
    job: Job, catalogue: Catalogue, given_as_of_ms: int | None
) -> event_source.EventsRead:
    """Parse every event file up to the given reference time into cluster memory."""
    settings, report = job.settings, job.report
    until = pd.Timestamp(given_as_of_ms, unit="ms").date() if given_as_of_ms is not None else None
    ev = event_source.read_events(
        settings.events,
        catalogue.ref,
        s3_endpoint_url=settings.s3_endpoint_url,
        quarantine=settings.quarantine,
        until=until,
        error_prefixes=settings.error_prefixes,
    )
    report.inputs.update(
        event_files=ev.files,
        event_lines=ev.lines,
        events_valid=ev.valid,
        events_anonymous=ev.anonymous,
        events_modelled=ev.modelled,
    )
    report.events_by_type, report.bad_lines = ev.types, ev.bad
    if ev.unknown_products:
        report.warnings.append(
            f"{ev.unknown_products} events name products missing from the catalogue (skipped)"
        )
    if ev.types.get("purchase", 0) == 0:
        report.warnings.append("no purchase events: purchases come from the orders table only")
    return ev


def plan_replica_reads(job: Job, events: event_source.EventsRead) -> ReplicaReads:
    """Cut the customers and order lines tables into key ranges; no events to learn from
    (none valid, or all anonymous, of types the model ignores or of unknown products) and no
    orders leave nothing to profile."""
    settings, report = job.settings, job.report
    url, rows = settings.replica_url, settings.partition_rows
    customers = replica.read_table(url, "customers", replica.CUSTOMERS, rows)
    lines = replica.read_order_lines(url, rows)
    report.warnings += customers.warnings + lines.warnings
    report.inputs.update(customers=customers.rows, order_lines=lines.rows)
    if events.modelled == 0 and lines.frame is None:
        raise InputError(
            f"no events to learn from under {settings.events} ({events.valid:,} valid) and no "
            "orders: nothing to profile"
        )
    return ReplicaReads(customers, lines)


def reference_time(
    job: Job, events: event_source.EventsRead, reads: ReplicaReads, given_as_of_ms: int | None
) -> int:
    """The run's "now" (epoch ms): as given, else the newest event or order, else the clock."""
    as_of_ms = given_as_of_ms
    if as_of_ms is None:
        newest = events.max_ts
        if newest is None and reads.lines.frame is not None:
            newest = int(reads.lines.frame["created_at"].max().compute())
        as_of_ms = newest if newest is not None and newest > 0 else now_ms()
    job.report.as_of = iso(as_of_ms)
    return as_of_ms
