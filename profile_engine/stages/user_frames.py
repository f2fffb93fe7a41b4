"""The per-user stages: profiles (items, stats, category affinity), then segments."""

from __future__ import annotations

from dataclasses import dataclass

import dask.dataframe as dd
from dask.base import compute

from profile_engine import partitions
from profile_engine.compute import codes, profiles, segment_rules
from profile_engine.stages.inputs import Catalogue
from profile_engine.stages.job import Job, wait_for

RFM_COLUMNS = ("recency_days", "frequency", "monetary")


@dataclass(frozen=True)
class UserProfiles:
    """Persisted per-user frames (partition i of each holds the same users) and their sizes."""

    items: dd.DataFrame  # profiles.ITEM_DTYPES: one row per user and product
    stats: dd.DataFrame  # profiles.STATS_DTYPES: one row per user
    affinity: dd.DataFrame  # profiles.AFFINITY_DTYPES
    users: int
    user_items: int


@dataclass(frozen=True)
class Segmented:
    """Persisted, aligned with the profiles: the users with a known id and their segments."""

    summary: dd.DataFrame  # profiles.SUMMARY_COLUMNS: one row per user with a known id
    segments: dd.DataFrame  # segment_rules.SEGMENT_DTYPES: one row per user and segment


def profile(
    job: Job, catalogue: Catalogue, interactions: dd.DataFrame, as_of_ms: int
) -> UserProfiles:
    """Each user's items, stats and category affinity from the shuffled interactions."""
    items = interactions.map_partitions(
        profiles.user_items, as_of_ms, meta=codes.empty_frame(profiles.ITEM_DTYPES)
    )
    stats = interactions.map_partitions(
        profiles.user_stats, as_of_ms, meta=codes.empty_frame(profiles.STATS_DTYPES)
    )
    affinity = items.map_partitions(
        partitions.affinity_of, catalogue.ref, meta=codes.empty_frame(profiles.AFFINITY_DTYPES)
    )
    items, stats, affinity = job.client.persist([items, stats, affinity])
    users, user_items = compute(stats.shape[0], items.shape[0])
    return UserProfiles(items, stats, affinity, int(users), int(user_items))


def assign_segments(
    job: Job,
    catalogue: Catalogue,
    profiled: UserProfiles,
    people: dd.DataFrame,
    specs: tuple[segment_rules.SegmentSpec, ...],
    as_of_ms: int,
) -> Segmented:
    """RFM tiers from the buyers' quintiles, each user's summary, and the segments' rules."""
    buyers = profiled.stats[profiled.stats["frequency"] > 0]
    (quantiles,) = compute(buyers[list(RFM_COLUMNS)].quantile(list(profiles.QUINTILES)))
    edges = {c: quantiles[c].to_numpy(dtype=float) for c in RFM_COLUMNS}
    categories = catalogue.catalog.categories
    summary = partitions.zip_partitions(
        profiles.user_summary,
        [profiled.stats, profiled.affinity, people],
        partitions.summary_meta(),
        edges,
        categories,
    )
    segments = partitions.zip_partitions(
        segment_rules.assign,
        [summary, profiled.affinity],
        codes.empty_frame(segment_rules.SEGMENT_DTYPES),
        specs,
        as_of_ms,
        categories,
    )
    summary, segments = job.client.persist([summary, segments])
    wait_for(job, [summary, segments])
    return Segmented(summary, segments)


def record_segment_sizes(job: Job, segmented: Segmented, users: int) -> int:
    """Segment sizes into the report; returns how many profiles there are (the users with a
    known id)."""
    sizes, n_profiles = compute(
        segmented.segments["segment"].value_counts(), segmented.summary.shape[0]
    )
    job.report.segments = {str(k): int(v) for k, v in sizes.sort_index().items()}
    if n_profiles < users:
        job.report.warnings.append(f"{users - n_profiles} users have no known id and were skipped")
    return int(n_profiles)
