"""Publishing from every worker: each task builds and writes the items of the partition it
holds (profiles and segment members of its users, or a slice of the neighbour lists), with
``in_flight`` BatchWriteItem requests at a time (a ``Target``) or as import files in S3 (a
``StagingTarget``, for ``publish_import``); the driver writes the small sections, then
(only after every task succeeded) the manifest, the pointer flip and the history entry.

Puts are idempotent (same key, same bytes), so a task lost with its worker is simply run
again by Dask on another; a task that fails for good fails the run before the flip, and the
served generation stays as it was.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from dask.delayed import delayed

from generation import layout
from profile_engine import import_files
from profile_engine.compute import assemble
from profile_engine.compute.catalog import Catalog
from profile_engine.errors import PublishError
from profile_engine.import_files import Staging
from profile_engine.publish import PublishReport, dynamodb_client, write_items

# Neighbour lists are cut into this many slices per worker (the lists live on the driver).
NEIGHBOUR_SLICES_PER_WORKER = 4


@dataclass(frozen=True)
class Target:
    """Where and how a task writes (sent with every task: small and picklable)."""

    table: str
    region: str
    endpoint_url: str | None
    generation: str
    expires_at: int
    in_flight: int


@dataclass(frozen=True)
class StagingTarget:
    """Where a task writes a generation's import files instead (publish_import)."""

    staging: Staging
    generation: str
    expires_at: int


@dataclass
class Written:
    """What one task wrote, and where it ran (for items/s per worker in the report)."""

    worker: str
    items: dict[str, int] = field(default_factory=dict)
    bytes: int = 0
    seconds: float = 0.0
    batches: int = 0
    retried: int = 0
    # Staged for import: files, their JSON and gzip bytes, when the first was started.
    files: int = 0
    json_bytes: int = 0
    gzip_bytes: int = 0
    started_at: float = 0.0


_CLIENTS: dict[tuple[str, str | None, int], Any] = {}
_S3: dict[tuple[str, str | None], Any] = {}


def _client(target: Target) -> Any:
    """One boto3 client per worker process (thread-safe; its pool fits ``in_flight``)."""
    k = (target.region, target.endpoint_url, target.in_flight)
    if k not in _CLIENTS:
        _CLIENTS[k] = dynamodb_client(
            target.region, target.endpoint_url, connections=max(16, 2 * target.in_flight)
        )
    return _CLIENTS[k]


def _s3(staging: Staging) -> Any:
    """One S3 client per worker process, as for DynamoDB."""
    k = (staging.region, staging.endpoint_url)
    if k not in _S3:
        _S3[k] = import_files.s3_client(staging.region, staging.endpoint_url)
    return _S3[k]


def _write(target: Target | StagingTarget, sections: list[tuple[str, list[layout.Item]]],
           part: str) -> Written:
    if isinstance(target, StagingTarget):
        return _stage(target.staging, sections, part)
    started = time.perf_counter()
    out = Written(worker=f"{socket.gethostname()}:{os.getpid()}")
    report = PublishReport(generation=target.generation)
    client = _client(target)
    for name, items in sections:
        out.items[name] = write_items(client, target.table, items, report,
                                      in_flight=target.in_flight)
        out.bytes += sum(len(i[layout.DATA]["B"]) for i in items)
    out.seconds = time.perf_counter() - started
    out.batches, out.retried = report.batches, report.retried_items
    return out


def _stage(staging: Staging, sections: list[tuple[str, list[layout.Item]]],
           part: str) -> Written:
    started = time.perf_counter()
    staged = import_files.stage(_s3(staging), staging, part, sections)
    return Written(
        worker=f"{socket.gethostname()}:{os.getpid()}",
        items=staged.items,
        bytes=sum(len(i[layout.DATA]["B"]) for _, items in sections for i in items),
        seconds=time.perf_counter() - started,
        files=staged.files,
        json_bytes=staged.json_bytes,
        gzip_bytes=staged.gzip_bytes,
        started_at=staged.started_at,
    )


def profile_part(
    summary: pd.DataFrame,
    segments: pd.DataFrame,
    items: pd.DataFrame,
    affinity: pd.DataFrame,
    recs: pd.DataFrame,
    catalog: Catalog,
    target: Target | StagingTarget,
    part: str = "",
) -> Written:
    """One user-partition's profiles and segment members, built and written here (staged
    as ``part``'s import files for a StagingTarget)."""
    gen, exp = target.generation, target.expires_at
    profiles = assemble.profiles(summary, segments, items, affinity, recs, catalog)
    members = assemble.segment_members(summary, segments)
    return _write(target, [
        ("profiles", [layout.profile_item(gen, p, exp) for p in profiles]),
        ("segment_members", [layout.segment_member_item(gen, s, m, exp) for s, m in members]),
    ], part)


def neighbour_part(neighbours: pd.DataFrame, catalog: Catalog, target: Target | StagingTarget,
                   part: str = "") -> Written:
    """The neighbour lists of one slice of the products (each with its product's facts)."""
    gen, exp = target.generation, target.expires_at
    lists = assemble.neighbour_lists(neighbours, catalog)
    return _write(target, [("neighbours", [layout.neighbours_item(gen, n, exp) for n in lists])],
                  part)


def neighbour_slices(neighbours: pd.DataFrame, n: int) -> list[pd.DataFrame]:
    """``n`` slices by source product (all of a product's rows in one slice)."""
    if neighbours.empty:
        return []
    codes = np.unique(neighbours["a"].to_numpy())
    bounds = np.array_split(codes, max(1, min(n, len(codes))))
    a = neighbours["a"].to_numpy()
    return [neighbours[(a >= b[0]) & (a <= b[-1])] for b in bounds if len(b)]


def run_tasks(client: Any, tasks: list[Any]) -> list[Written]:
    """Compute the write tasks on the cluster; any failure (after Dask's own retries of a
    lost worker's tasks) is a PublishError: nothing is flipped."""
    futures = client.compute(tasks)
    try:
        done: list[Written] = client.gather(futures)
    except Exception as exc:
        client.cancel(futures)
        raise PublishError(f"a worker's part of the publish failed: {exc}") from exc
    return done


def summarize(parts: list[Written]) -> dict[str, Any]:
    """Items, bytes and items/s per worker (each worker's items over its busy seconds)."""
    per: dict[str, dict[str, float]] = {}
    for w in parts:
        row = per.setdefault(w.worker, {"items": 0, "bytes": 0, "seconds": 0.0, "tasks": 0})
        row["items"] += sum(w.items.values())
        row["bytes"] += w.bytes
        row["seconds"] += w.seconds
        row["tasks"] += 1
    for row in per.values():
        row["items_per_s"] = round(row["items"] / row["seconds"], 1) if row["seconds"] else 0.0
        row["seconds"] = round(row["seconds"], 2)
    return {
        "workers": per,
        "items": int(sum(r["items"] for r in per.values())),
        "bytes": int(sum(r["bytes"] for r in per.values())),
        "retried": sum(w.retried for w in parts),
    }


def tasks_for(
    profile_frames: list[list[Any]], neighbours: list[pd.DataFrame], catalog_ref: Any,
    target: Target | StagingTarget,
) -> list[Any]:
    """Delayed write tasks: one per user-partition (its delayed frames), one per slice of
    the neighbour lists; each named, so that its import files are its own."""
    return [
        *(delayed(profile_part, pure=False)(*frames, catalog_ref, target, f"profiles-{i:05d}")
          for i, frames in enumerate(profile_frames)),
        *(delayed(neighbour_part, pure=False)(s, catalog_ref, target, f"neighbours-{i:05d}")
          for i, s in enumerate(neighbours)),
    ]
