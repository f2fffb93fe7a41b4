"""Run the profile job: sources -> one shuffle by user -> per-partition compute -> publish.

Data flow (DESIGN "measured facts"): events and order lines are parsed into integer-coded
rows (user key hash, product code from the broadcast catalogue) and shuffled once by user;
the people frame (ids, contact fields) is shuffled by the same key into the same number of
partitions, so partition i of every per-user frame holds the same users and later steps
zip partitions instead of joining. Item-to-item co-occurrences are counted per group of
partitions as sparse item x item matrices and summed in row blocks (no row per pair ever
moves). Publishing streams partitions to DynamoDB and flips the pointer last; any failure
before that leaves the served generation untouched.
"""

from __future__ import annotations

import logging
import sys
from contextlib import redirect_stdout
from datetime import UTC, datetime
from functools import partial
from typing import Any

import dask.dataframe as dd
import numpy as np
import pandas as pd
from dask.base import compute
from dask.delayed import delayed
from distributed import Client, progress, wait

from profile_engine import cluster, gate, partitions, ranker_jobs
from profile_engine.compute import (
    assemble,
    codes,
    ingest,
    popular,
    profiles,
    segment_rules,
)
from profile_engine.compute.catalog import UNCATEGORIZED, Catalog
from profile_engine.errors import InputError
from profile_engine.evaluation import data as eval_data
from profile_engine.evaluation import run as evaluate_run
from profile_engine.publish import GenerationData, dynamodb_client, new_generation_id, publish
from profile_engine.run_report import RunReport
from profile_engine.settings import EngineSettings
from profile_engine.sources import events as event_source
from profile_engine.sources import replica
from recsvc.models import Manifest, SegmentInfo

__all__ = ["RunReport", "run"]

log = logging.getLogger(__name__)

POPULAR_SIZE = 100
# Offline quality figures recorded in the run report and the manifest (the Info RPC shows them).
GATE_METRICS = ("precision@10", "recall@20", "ndcg@10", "hr@10", "coverage@10")


def run(settings: EngineSettings, force: bool = False) -> RunReport:
    """The whole job; ``force`` publishes even when the quality gate says no."""
    report = RunReport()
    # A bad segment file fails here, before a cluster starts or any input is read.
    specs = segment_rules.load(settings.segments)
    with cluster.open_client(settings) as client:
        if settings.dashboard:
            report.dashboard = client.dashboard_link
            if cluster.dashboard_missing():
                report.warnings.append("the Dask dashboard needs bokeh (pip install 'bokeh>=3.1')")
        # Peaks count from here: earlier work on a shared cluster is not this run's.
        cluster.worker_peaks(client)
        report.memory_probe = partial(cluster.worker_peaks, client)
        if show_progress(settings):
            report.echo = _to_stderr
            _to_stderr(_cluster_line(client, report))
        _run(settings, specs, client, report, force)
    return report


def show_progress(settings: EngineSettings) -> bool:
    """Stage lines on stderr: as set, or when stderr is a terminal (not in logs or tests)."""
    return settings.progress if settings.progress is not None else sys.stderr.isatty()


def _wait(collections: list[Any], report: RunReport) -> None:
    """wait() for persisted collections, with Dask's progress bar on stderr when someone
    watches the run on a terminal (a bar redrawn with \\r would garble a log file)."""
    if report.echo is not None and sys.stderr.isatty():
        with redirect_stdout(sys.stderr):  # the bar writes to stdout; the report goes there
            progress(collections, multi=False, notebook=False)
    wait(collections)


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _cluster_line(client: Client, report: RunReport) -> str:
    info = client.scheduler_info()
    where = f"dashboard {report.dashboard}" if report.dashboard else "no dashboard"
    return f"dask        {len(info.get('workers', {}))} workers at {info.get('address')}, {where}"


def user_partitions(rows: int, settings: EngineSettings) -> int:
    """Partitions of the shuffle by user, from the input's size alone: one per
    ``user_partition_rows`` rows, so every partition holds about that many rows at any input
    size (a task's memory stays the same however large the input grows), and the same
    input is cut the same way on any cluster."""
    return max(1, -(-rows // settings.user_partition_rows))


def parse_as_of(value: str) -> int:
    """ISO-8601 (naive means UTC) -> epoch ms."""
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.value // 1_000_000)


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def _run(
    settings: EngineSettings,
    specs: tuple[segment_rules.SegmentSpec, ...],
    client: Client,
    report: RunReport,
    force: bool,
) -> None:
    url, rows = settings.replica_url, settings.partition_rows
    workers = max(1, len(client.scheduler_info().get("workers", {})))

    with report.stage("catalog"):
        products = replica.read_table(url, "products", replica.PRODUCTS, rows)
        report.warnings += products.warnings
        if products.frame is None:
            raise InputError("the replica has no usable products table (product_id is required)")
        catalog = Catalog.from_frame(products.frame.compute())
        if len(catalog) == 0:
            raise InputError("the products table is empty")
        report.inputs["products"] = len(catalog)
        uncategorized = int(
            (np.asarray(catalog.categories)[catalog.category_codes] == UNCATEGORIZED).sum()
        )
        if uncategorized:
            report.warnings.append(
                f"{uncategorized} products without a category: '{UNCATEGORIZED}'"
            )
        catalog_ref = client.scatter(catalog, broadcast=True, hash=False)

    as_of_ms = parse_as_of(settings.as_of) if settings.as_of else None
    with report.stage("read events"):
        until = pd.Timestamp(as_of_ms, unit="ms").date() if as_of_ms is not None else None
        ev = event_source.read_events(
            settings.events,
            catalog_ref,
            s3_endpoint_url=settings.s3_endpoint_url,
            quarantine=settings.quarantine,
            until=until,
        )
        report.inputs.update(event_files=ev.files, event_lines=ev.lines, events_valid=ev.valid)
        report.events_by_type, report.bad_lines = ev.types, ev.bad
        if ev.unknown_products:
            report.warnings.append(
                f"{ev.unknown_products} events name products missing from the catalogue (skipped)"
            )
        if ev.types.get("purchase", 0) == 0:
            report.warnings.append("no purchase events: purchases come from the orders table only")

    with report.stage("plan replica reads"):
        customers = replica.read_table(url, "customers", replica.CUSTOMERS, rows)
        lines = replica.read_order_lines(url, rows)
        report.warnings += customers.warnings + lines.warnings
        report.inputs.update(customers=customers.rows, order_lines=lines.rows)
        if ev.valid == 0 and lines.frame is None:
            raise InputError(
                f"no valid events under {settings.events} and no orders: nothing to profile"
            )
        if as_of_ms is None:
            newest = ev.max_ts
            if newest is None and lines.frame is not None:
                newest = int(lines.frame["created_at"].max().compute())
            as_of_ms = (
                newest
                if newest is not None and newest > 0
                else int(pd.Timestamp.now("UTC").value // 10**6)
            )
        report.as_of = iso(as_of_ms)

    with report.stage("shuffle by user"):
        sources = [ev.frame]
        if lines.frame is not None:
            sources.append(
                lines.frame.map_partitions(
                    partitions.orders_of,
                    catalog_ref,
                    meta=codes.empty_frame(codes.INTERACTION_DTYPES),
                )
            )
        rows_in = dd.concat(sources).map_partitions(partitions.until, as_of_ms)
        # Partitioning decides approximate quantiles (RFM tiers) and summation order: it
        # must depend on the input only, never on how many workers happen to be up.
        n = user_partitions(ev.valid + lines.rows, settings)
        people_parts = [
            ev.users.map_partitions(
                ingest.people_from_users, meta=codes.empty_frame(ingest.PEOPLE_DTYPES)
            )
        ]
        if customers.frame is not None:
            people_parts.append(
                customers.frame.map_partitions(
                    ingest.people_from_customers, meta=codes.empty_frame(ingest.PEOPLE_DTYPES)
                )
            )
        elif lines.frame is not None:
            people_parts.append(
                lines.frame.map_partitions(
                    ingest.order_users, meta=codes.empty_frame(codes.USER_DTYPES)
                ).map_partitions(
                    ingest.people_from_users, meta=codes.empty_frame(ingest.PEOPLE_DTYPES)
                )
            )
        interactions = rows_in.shuffle(on="uid", npartitions=n).map_partitions(
            profiles.resolve_purchases
        )
        people = (
            dd.concat(people_parts)
            .shuffle(on="uid", npartitions=n)
            .map_partitions(ingest.dedupe_people)
        )
        # Replica ranges are read and both shuffles run here; waiting keeps stage times honest.
        interactions, people = client.persist([interactions, people])
        _wait([interactions, people], report)
        del ev, sources, rows_in  # the parsed parts are no longer needed once shuffled

    with report.stage("profiles"):
        items = interactions.map_partitions(
            profiles.user_items, as_of_ms, meta=codes.empty_frame(profiles.ITEM_DTYPES)
        )
        stats = interactions.map_partitions(
            profiles.user_stats, as_of_ms, meta=codes.empty_frame(profiles.STATS_DTYPES)
        )
        affinity = items.map_partitions(
            partitions.affinity_of, catalog_ref, meta=codes.empty_frame(profiles.AFFINITY_DTYPES)
        )
        items, stats, affinity = client.persist([items, stats, affinity])
        n_users, n_items = compute(stats.shape[0], items.shape[0])

    params = settings.ranker_params()
    with report.stage("evaluate"):
        # The same ranker code on the same cluster, fitted on the first 80% of the input's
        # time and scored on the rest (EVALUATION.md), per user-partition of the
        # interactions while they are still in memory (then they go); sums come here.
        gate_rows = interactions.map_partitions(
            eval_data.clean, meta=codes.empty_frame(eval_data.COLUMNS)
        )
        quality = evaluate_run.engine_ndcg_on_cluster(gate_rows, params, client, len(catalog))
        report.metrics.update({k: v for k, v in quality.items() if k in GATE_METRICS})
        del interactions, gate_rows

    with report.stage("neighbours"):
        blocks = partitions.item_neighbours(
            client, items, catalog_ref, len(catalog), settings.history, settings.neighbours
        )
        nb = pd.concat(compute(*blocks), ignore_index=True)

    with report.stage("popular"):
        pop_parts = items.map_partitions(
            popular.local_popularity, as_of_ms, meta=codes.empty_frame(popular.POPULARITY_DTYPES)
        )
        pop = popular.popular_table(pop_parts.compute(), catalog, POPULAR_SIZE)

    with report.stage("segments"):
        buyers = stats[stats["frequency"] > 0]
        (quantiles,) = compute(
            buyers[["recency_days", "frequency", "monetary"]].quantile(list(profiles.QUINTILES))
        )
        edges = {
            c: quantiles[c].to_numpy(dtype=float) for c in ("recency_days", "frequency", "monetary")
        }
        summary = partitions.zip_partitions(
            profiles.user_summary,
            [stats, affinity, people],
            partitions.summary_meta(),
            edges,
            catalog.categories,
        )
        segs = partitions.zip_partitions(
            segment_rules.assign,
            [summary, affinity],
            codes.empty_frame(segment_rules.SEGMENT_DTYPES),
            specs,
            as_of_ms,
            catalog.categories,
        )
        summary, segs = client.persist([summary, segs])
        _wait([summary, segs], report)
        del people, buyers  # persisted frames go as soon as their last user is done
        sizes, n_profiles = compute(segs["segment"].value_counts(), summary.shape[0])
        report.segments = {str(k): int(v) for k, v in sizes.sort_index().items()}
        if n_profiles < n_users:
            report.warnings.append(
                f"{n_users - n_profiles} users have no known id and were skipped"
            )

    with report.stage("ranker"):
        model = ranker_jobs.fit(client, items, len(catalog), as_of_ms, params)
        ranked = ranker_jobs.ranked(items, model, catalog_ref, as_of_ms, settings.recommendations)

    with report.stage("recommend"):
        nb_ref, pop_ref = client.scatter([nb, pop], broadcast=True, hash=False)
        recs = partitions.zip_partitions(
            partitions.recommend_for,
            [stats, items, affinity, ranked],
            partitions.recs_meta(),
            nb_ref,
            pop_ref,
            catalog_ref,
            settings.recommendations,
            settings.history,
        )
        recs = client.persist(recs)
        _wait([recs], report)
        rec_rows, personal, distinct = compute(
            recs.shape[0], (recs["tier"] == 0).sum(), recs["pcode"].nunique()
        )
        del stats, ranked

    report.counts = {
        "users": int(n_profiles),
        "user_items": int(n_items),
        "products": len(catalog),
        "in_stock": int(catalog.in_stock.sum()),
        "neighbour_lists": int(nb["a"].nunique()),
        "popular_lists": int(pop["cat"].nunique()),
        "recommendations": int(rec_rows),
    }
    report.metrics = {
        "recs_per_user": rec_rows / n_profiles if n_profiles else 0.0,
        "personalised_share": personal / rec_rows if rec_rows else 0.0,
        "catalog_coverage": distinct / max(1, int(catalog.in_stock.sum())),
        **report.metrics,
    }
    del model

    dynamodb = dynamodb_client(settings.aws_region, settings.dynamodb_endpoint_url)
    if settings.quality_gate:
        live_generation, live = gate.live_metrics(dynamodb, settings.table)
        verdict = gate.judge(quality, live, settings.quality_tolerance, force)
        report.gate = verdict.reason + (f" ({live_generation})" if live_generation else "")
        if not verdict.publish:
            return

    with report.stage("publish"):
        generation = new_generation_id()
        described = segment_rules.descriptions(specs, catalog.categories)
        # Every segment the file defines is listed, empty ones too (per-category ones when
        # they have members).
        names = sorted(set(report.segments) | {s.name for s in specs if not s.for_each})
        manifest = Manifest(
            generation=generation,
            published_at=iso(int(pd.Timestamp.now("UTC").value // 10**6)),
            counts={
                **report.counts,
                **{f"input_{k}": v for k, v in report.inputs.items()},
                "bad_lines": report.bad_total,
            },
            metrics={**report.metrics, "as_of_epoch_ms": float(as_of_ms)},
            segments=tuple(
                SegmentInfo(s, described.get(s, s), report.segments.get(s, 0)) for s in names
            ),
            categories=catalog.categories,
        )
        ahead = 2 * workers
        profile_tasks = [
            delayed(partitions.profiles_of)(*ps, catalog_ref)
            for ps in zip(
                summary.to_delayed(),
                segs.to_delayed(),
                items.to_delayed(),
                affinity.to_delayed(),
                recs.to_delayed(),
                strict=True,
            )
        ]
        member_tasks = [
            delayed(assemble.segment_members)(s, g)
            for s, g in zip(summary.to_delayed(), segs.to_delayed(), strict=True)
        ]
        data = GenerationData(
            manifest=manifest,
            profiles=partitions.stream(client, profile_tasks, ahead),
            neighbours=assemble.neighbour_lists(nb, catalog),
            popular=assemble.popular_lists(pop, catalog),
            segment_members=partitions.stream(client, member_tasks, ahead),
        )
        published = publish(dynamodb, settings.table, data, ttl_days=settings.ttl_days)
        report.generation, report.previous_generation = (
            published.generation,
            published.previous_generation,
        )
        report.published = dict(published.items)
