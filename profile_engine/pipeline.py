"""Run the profile job: sources -> one shuffle by user -> per-partition compute -> publish.

Data flow (DESIGN "measured facts"): events and order lines are parsed into integer-coded
rows (user key hash, product code from the broadcast catalogue) and shuffled once by user;
the people frame (ids, contact fields) is shuffled by the same key into the same number of
partitions, so partition i of every per-user frame holds the same users and later steps
zip partitions instead of joining. Item-to-item co-occurrences are counted per group of
partitions as sparse item x item matrices and summed in row blocks (no row per pair ever
moves). Publishing streams partitions to DynamoDB and flips the pointer last; any failure
before that leaves the served generation untouched.

The stages, in order (``profile_engine.stages``; the report times each by its name):

    catalog              inputs.load_catalogue        products, broadcast to every worker
    read events          inputs.read_events           event files parsed into cluster memory
    plan replica reads   inputs.plan_replica_reads    customers and order lines in key ranges
    shuffle by user      shuffle.by_user              interactions + people, same partitions
    profiles             user_frames.profile          items, stats, category affinity
    tune                 quality.tune                 the model for this shop, on its validation
    evaluate             quality.evaluate             what will be served, on the test split
    neighbours           item_lists.neighbours        co-occurrence neighbours per product
    popular              item_lists.popular_lists     overall and per-category popular lists
    segments             user_frames.assign_segments  summaries (RFM tiers) and segments
    ranker               personal_lists.rank          the ranker fitted once, its top lists
                                                      (skipped when a baseline is served)
    recommend            personal_lists.recommend     each user's recommendations
    (quality gate)       quality.gate_allows          no clear regression, or nothing published
    membership           membership.record            per segment: reachable, files, joined/left
    publish              generation.*                 manifest + items written (or imported:
                                                      stages.importing), pointer flipped,
                                                      then the generation's summary

A persisted frame is dropped after its last stage, so its partitions leave the workers.
"""

from __future__ import annotations

import sys
from functools import partial

from distributed import Client

from profile_engine import cluster, worker_memory
from profile_engine.compute import segment_rules
from profile_engine.publish import dynamodb_client, new_generation_id
from profile_engine.run_report import RunReport
from profile_engine.settings import EngineSettings
from profile_engine.stages import (
    importing,
    inputs,
    item_lists,
    membership,
    outputs,
    personal_lists,
    publishing,
    quality,
    shuffle,
    summary,
    user_frames,
)
from profile_engine.stages.clock import parse_as_of
from profile_engine.stages.job import Job

__all__ = ["RunReport", "run"]


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
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        _stages(Job(settings, client, report, workers), specs, force)
    return report


def show_progress(settings: EngineSettings) -> bool:
    """Stage lines on stderr: as set, or when stderr is a terminal (not in logs or tests)."""
    return settings.progress if settings.progress is not None else sys.stderr.isatty()


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _cluster_line(client: Client, report: RunReport) -> str:
    info = client.scheduler_info()
    where = f"dashboard {report.dashboard}" if report.dashboard else "no dashboard"
    return f"dask        {len(info.get('workers', {}))} workers at {info.get('address')}, {where}"


def _stages(job: Job, specs: tuple[segment_rules.SegmentSpec, ...], force: bool) -> None:
    """The stages in order, each timed under its name; ``del`` marks a frame's last stage."""
    report, settings = job.report, job.settings
    with report.stage("catalog"):
        catalogue = inputs.load_catalogue(job)

    given_as_of_ms = parse_as_of(settings.as_of) if settings.as_of else None
    with report.stage("read events"):
        events = inputs.read_events(job, catalogue, given_as_of_ms)

    with report.stage("plan replica reads"):
        reads = inputs.plan_replica_reads(job, events)
        as_of_ms = inputs.reference_time(job, events, reads, given_as_of_ms)

    with report.stage("shuffle by user"):
        shuffled = shuffle.by_user(job, catalogue, events, reads, as_of_ms)
        del events  # the parsed parts are no longer needed once shuffled

    with report.stage("profiles"):
        profiled = user_frames.profile(job, catalogue, shuffled.interactions, as_of_ms)

    with (
        report.stage("tune"),
        worker_memory.returned_during(job.client, settings.keep_freed_memory),
    ):
        tuned = quality.tune(job, catalogue, shuffled.interactions)

    with report.stage("evaluate"):
        figures = quality.evaluate(job, catalogue, shuffled.interactions, tuned)
        choice = tuned.choice
        del tuned  # the tuning's rows go
        people = shuffled.people
        del shuffled  # the interactions go: evaluating them was their last stage

    with report.stage("neighbours"):
        neighbours = item_lists.neighbours(job, catalogue, profiled.items, profiled.user_items)

    with report.stage("popular"):
        popular = item_lists.popular_lists(catalogue, profiled.items, as_of_ms)

    with report.stage("segments"):
        segmented = user_frames.assign_segments(job, catalogue, profiled, people, specs, as_of_ms)
        del people  # persisted frames go as soon as their last user is done
        profile_count = user_frames.record_segment_sizes(job, segmented, profiled.users)

    with report.stage("ranker"):
        ranked = personal_lists.rank(job, catalogue, profiled.items, as_of_ms, choice)

    with report.stage("recommend"):
        recommended = personal_lists.recommend(
            job, catalogue, profiled, ranked, neighbours, popular, choice.served
        )

    outputs.record(
        report, catalogue, profile_count, profiled.user_items, neighbours, popular, recommended
    )
    parts = publishing.ProfileParts(
        segmented.summary, segmented.segments, profiled.items, profiled.affinity, recommended.recs
    )
    # The per-user stats and the ranker (its lists, its model on every worker) go before
    # publishing: what publishing reads is in ``parts``.
    del profiled, ranked

    dynamodb = dynamodb_client(settings.aws_region, settings.dynamodb_endpoint_url)
    if not quality.gate_allows(job, dynamodb, figures, force):
        return

    generation = new_generation_id()
    with report.stage("membership"):
        members = membership.record(
            job, dynamodb, parts.summary, parts.segments,
            publishing.segment_names(report, specs), generation,
        )
        report.record_membership(members.previous, members.url, {
            name: (f.reachable, f.joined, f.left) for name, f in members.segments.items()})

    with report.stage("publish"):
        if importing.by_import(settings, report):
            manifest = importing.publish_by_import(
                job, dynamodb, catalogue, specs, parts, neighbours, popular, as_of_ms,
                generation,
            )
        elif settings.publish_from_workers:
            manifest = publishing.publish_from_workers(
                job, dynamodb, catalogue, specs, parts, neighbours, popular, as_of_ms,
                generation,
            )
        else:
            data = publishing.assemble_generation(
                job, catalogue, specs, parts, neighbours, popular, as_of_ms, generation
            )
            manifest = publishing.publish_generation(job, dynamodb, data)
        # Served from here on: the summary only says so (it lives in the fixed table, next
        # to the pointer, whichever table holds the generation).
        if not summary.write(dynamodb, settings.table, summary.build(manifest, members)):
            report.warnings.append("the generation's summary (console history) was not written")
        if settings.publish_mode == "auto" and report.publish.get("mode") != "import":
            importing.sweep_tables(job, dynamodb)  # earlier runs may have imported
