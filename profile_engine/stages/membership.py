"""Segment membership that outlives the generation: one Parquet file per segment, and the
figures the generation's summary carries (size, reachable, joined, left).

Each segment's members go to ``<membership_url>/<generation>/<segment>.parquet`` (one
``user_id`` column, sorted; the name as generation.summaries.membership_file spells it),
and a ``_SUCCESS`` marker last. Joined and left compare with the previous generation's
files: the one the pointer names before this run flips it (else the newest summary's),
when its marker exists. Everything runs on the cluster: a task per user-partition splits
its memberships by segment, a task per segment gathers its pieces (only that segment's
ids move), sorts them, writes the file and compares it with the previous one. The driver
sees counts only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from dask.delayed import delayed

from generation import summaries
from profile_engine.errors import MembershipError
from profile_engine.served import ServedTable
from profile_engine.sources.files import storage_options
from profile_engine.stages.job import Job

log = logging.getLogger(__name__)

MARKER = "_SUCCESS"
# A piece of one segment from one user-partition: (user ids, members, reachable members).
Piece = tuple[pa.Array | None, int, int]
_EMPTY: Piece = (None, 0, 0)


@dataclass(frozen=True)
class SegmentFigures:
    size: int
    reachable: int  # opted in to marketing e-mail, with an address
    joined: int = 0
    left: int = 0


@dataclass(frozen=True)
class Membership:
    segments: dict[str, SegmentFigures] = field(default_factory=dict)
    previous: str = ""  # the generation joined/left compare with; "" when none
    url: str = ""  # where this generation's files are; "" when not written


def pieces_of(summary: pd.DataFrame, segments: pd.DataFrame, with_ids: bool) -> dict[str, Piece]:
    """One user-partition's memberships by segment: the members' user ids (when files are
    written) and how many there are and can be mailed (the export's rule: opted in and an
    e-mail address)."""
    joined = segments.merge(summary[["uid", "user_id", "email", "opt_in"]], on="uid")
    reachable = joined["opt_in"].to_numpy(dtype=bool) & (joined["email"].to_numpy() != "")
    joined = joined.assign(reachable=reachable)
    out: dict[str, Piece] = {}
    for name, group in joined.groupby("segment", sort=True):
        ids = pa.array(group["user_id"].astype(str).to_numpy(), type=pa.string()) \
            if with_ids else None
        out[str(name)] = (ids, len(group), int(group["reachable"].sum()))
    return out


def _piece(pieces: dict[str, Piece], name: str) -> Piece:
    return pieces.get(name, _EMPTY)


def gather_segment(parts: list[Piece], directory: str | None, previous: str | None,
                   options: dict[str, Any], name: str) -> SegmentFigures:
    """One segment's figures; with ``directory``, its sorted file written there and
    compared with the one in ``previous`` (a directory whose run completed, or None)."""
    size, reachable = sum(p[1] for p in parts), sum(p[2] for p in parts)
    if directory is None:
        return SegmentFigures(size, reachable)
    arrays = [p[0] for p in parts if p[0] is not None and len(p[0])]
    ids = pa.concat_arrays(arrays) if arrays else pa.array([], type=pa.string())
    ids = ids.take(pc.sort_indices(ids))
    fs, root = fsspec.core.url_to_fs(directory, **options)
    fs.makedirs(root, exist_ok=True)
    with fs.open(f"{root}/{summaries.membership_file(name)}", "wb") as f:
        pq.write_table(pa.table({"user_id": ids}), f)
    if previous is None:
        return SegmentFigures(size, reachable)
    before = read_members(previous, name, options)
    if before is None:  # the segment did not exist then: everyone joined
        return SegmentFigures(size, reachable, joined=size)
    joined = len(ids) - pc.sum(pc.is_in(ids, value_set=before)).as_py() if len(ids) else 0
    left = len(before) - pc.sum(pc.is_in(before, value_set=ids)).as_py() if len(before) else 0
    return SegmentFigures(size, reachable, int(joined), int(left))


def read_members(directory: str, name: str, options: dict[str, Any]) -> pa.Array | None:
    """The user ids of segment ``name`` in a generation's directory; None without a file."""
    fs, root = fsspec.core.url_to_fs(directory, **options)
    path = f"{root}/{summaries.membership_file(name)}"
    try:
        with fs.open(path, "rb") as f:
            return pq.read_table(f, columns=["user_id"]).column("user_id").combine_chunks()
    except FileNotFoundError:
        return None


def previous_generation(client: Any, table: str) -> str:
    """The generation this run's figures compare with: the served one, else the newest
    summary's; "" when the table has neither."""
    pointer = ServedTable(client, table).pointer()
    if pointer is not None:
        return pointer.generation
    found = client.query(**summaries.summaries_query(table, limit=1)).get("Items", [])
    return summaries.decode_summary_item(found[0]).generation if found else ""


def generation_url(prefix: str, generation: str) -> str:
    return f"{prefix.rstrip('/')}/{generation}"


def completed(directory: str, options: dict[str, Any]) -> bool:
    fs, root = fsspec.core.url_to_fs(directory, **options)
    return bool(fs.exists(f"{root}/{MARKER}"))


def record(job: Job, dynamodb: Any, summary: Any, segments: Any, names: list[str],
           generation: str) -> Membership:
    """Every segment's figures (``names``: all the generation lists, empty ones too), with
    the membership files written when a location is set. Raises MembershipError when the
    files cannot be written or read (nothing is published then)."""
    settings = job.settings
    prefix = settings.membership_url
    options = storage_options(prefix or "", settings.s3_endpoint_url)
    directory = generation_url(prefix, generation) if prefix else None
    previous = ""
    try:
        if prefix:
            previous = previous_generation(dynamodb, settings.table)
            if previous and not completed(generation_url(prefix, previous), options):
                log.info("no complete membership files of %s: joined/left not counted", previous)
                previous = ""
        per_partition = [
            delayed(pieces_of, pure=True)(s, g, prefix is not None)
            for s, g in zip(summary.to_delayed(), segments.to_delayed(), strict=True)
        ]
        before = generation_url(prefix, previous) if prefix and previous else None
        tasks = [
            delayed(gather_segment, pure=True)(
                [delayed(_piece)(p, name) for p in per_partition], directory, before, options,
                name)
            for name in names
        ]
        figures = job.client.gather(job.client.compute(tasks))
        if directory is not None:
            fs, root = fsspec.core.url_to_fs(directory, **options)
            fs.touch(f"{root}/{MARKER}")
    except (OSError, pa.ArrowException) as exc:
        raise MembershipError(
            f"segment membership files at {prefix} could not be written or read: {exc}"
        ) from exc
    url = f"{directory}/" if directory else ""
    return Membership(dict(zip(names, figures, strict=True)), previous, url)

