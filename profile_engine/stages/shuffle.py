"""The job's one shuffle: interactions and people moved by user into the same partitions."""

from __future__ import annotations

from dataclasses import dataclass

import dask.dataframe as dd

from profile_engine import partitions
from profile_engine.compute import codes, ingest, profiles
from profile_engine.settings import EngineSettings
from profile_engine.sources.events import EventsRead
from profile_engine.stages.inputs import Catalogue, ReplicaReads
from profile_engine.stages.job import Job, wait_for


@dataclass(frozen=True)
class Shuffled:
    """Both persisted; partition i of each holds the same users."""

    interactions: dd.DataFrame  # codes.INTERACTION_DTYPES up to the as-of, purchases resolved
    people: dd.DataFrame  # ingest.PEOPLE_DTYPES, one row per user


def user_partitions(rows: int, settings: EngineSettings) -> int:
    """Partitions of the shuffle by user, from the input's size alone: one per
    ``user_partition_rows`` rows, so every partition holds about that many rows at any input
    size (a task's memory stays the same however large the input grows), and the same
    input is cut the same way on any cluster."""
    return max(1, -(-rows // settings.user_partition_rows))


def by_user(
    job: Job, catalogue: Catalogue, events: EventsRead, reads: ReplicaReads, as_of_ms: int
) -> Shuffled:
    """Events and order lines (coded rows) and the people they name, shuffled by user."""
    lines, customers = reads.lines, reads.customers
    sources = [events.frame]
    if lines.frame is not None:
        sources.append(
            lines.frame.map_partitions(
                partitions.orders_of,
                catalogue.ref,
                meta=codes.empty_frame(codes.INTERACTION_DTYPES),
            )
        )
    rows_in = dd.concat(sources).map_partitions(partitions.until, as_of_ms)
    # Partitioning decides approximate quantiles (RFM tiers) and summation order: it
    # must depend on the input only, never on how many workers happen to be up.
    n = user_partitions(events.valid + lines.rows, job.settings)
    people_parts = [
        events.users.map_partitions(
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
    # People first: its shuffle is the smaller one, and each shuffle's outputs wait for all
    # its inputs; sent second, its inputs queued behind the interactions' and its outputs
    # were the stage's last second (the interactions' outputs now overlap its tail).
    people = job.client.persist(people, priority=1)
    interactions = job.client.persist(interactions)
    wait_for(job, [interactions, people])
    return Shuffled(interactions, people)
