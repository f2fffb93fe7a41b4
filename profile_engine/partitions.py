"""Dask plumbing of the job: per-partition adapters, aligned zips, bounded result streaming.

The compute functions take plain arrays; the adapters here unpack the broadcast Catalog for
them, so a task ships one reference to the scattered catalogue instead of its arrays.
"""

from __future__ import annotations

import operator
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import dask.dataframe as dd
import numpy as np
import pandas as pd
from dask.delayed import delayed
from distributed import Client

from profile_engine.compute import (
    assemble,
    codes,
    ingest,
    neighbours,
    profiles,
    ranker,
    recommend,
)
from profile_engine.compute.catalog import Catalog
from profile_engine.errors import AlignmentError
from profile_engine.sources import events
from recsvc.models import Profile

# A pair seen in a single user's history is noise, not similarity.
MIN_PAIR_COUNT = 2
# Event lines parsed per call: a parse's scratch is bounded by this, not by the file's size.
PARSE_CHUNK = 100_000
# Items rows (user x product) counted by one co-occurrence task: bounds its sums (few groups,
# so that few partial counts move and are summed, but not one per worker at any size).
NEIGHBOUR_GROUP_ROWS = 1_000_000


def zip_partitions(
    func: Callable[..., pd.DataFrame], frames: list[dd.DataFrame], meta: pd.DataFrame, *args: Any
) -> dd.DataFrame:
    """func(part_i of each frame, *args) for aligned frames (same users in partition i)."""
    n = frames[0].npartitions
    if any(f.npartitions != n for f in frames):
        raise AlignmentError(f"per-user frames are not aligned: {[f.npartitions for f in frames]}")
    parts = [
        delayed(func, pure=True)(*ps, *args)
        for ps in zip(*(f.to_delayed() for f in frames), strict=True)
    ]
    frame: dd.DataFrame = dd.from_delayed(parts, meta=meta, verify_meta=False)
    return frame


def until(df: pd.DataFrame, as_of_ms: int) -> pd.DataFrame:
    return df[df["ts"].to_numpy() <= as_of_ms]


def affinity_of(items: pd.DataFrame, catalog: Catalog) -> pd.DataFrame:
    return profiles.category_affinity(items, catalog.category_codes)


def orders_of(lines: pd.DataFrame, catalog: Catalog) -> pd.DataFrame:
    return ingest.order_interactions(lines, catalog)


def item_neighbours(
    client: Client, items: dd.DataFrame, catalog: Any, n_items: int, history: int, k: int
) -> list[Any]:
    """Delayed neighbour lists, one frame per row block of the co-occurrence matrix.

    ``items`` is persisted. Its partitions are counted in groups of partitions held by the
    same worker, so that only the groups' summed counts move between workers (a partition's
    counts are several times its rows); a group holds at most NEIGHBOUR_GROUP_ROWS rows, so
    its sums stay bounded however large the input. Block r of every group is summed
    pairwise, then ranked. The counts are integers: grouping cannot change a result.
    ``catalog`` may be a scattered future of the Catalog."""
    bounds = neighbours.block_bounds(n_items)
    holders = client.who_has(client.futures_of(items))
    sizes = items.map_partitions(len).compute().tolist()
    by_worker: dict[str, list[tuple[Any, int]]] = {}
    # to_delayed() renames the keys: the persisted ones, in the same order, say who holds what
    for key, part, size in zip(items.__dask_keys__(), items.to_delayed(), sizes, strict=True):
        by_worker.setdefault(min(holders.get(key) or ("",)), []).append((part, size))
    groups = [
        delayed(neighbours.group_counts, nout=2, pure=True)(group, history, n_items, bounds)
        for held in by_worker.values()
        for group in _groups_of(held, NEIGHBOUR_GROUP_ROWS)
    ]
    item_users = summed([n for n, _ in groups])
    return [
        delayed(neighbours_of, pure=True)(
            summed([blocks[r] for _, blocks in groups]), lo, item_users, catalog, k
        )
        for r, (lo, _) in enumerate(bounds)
    ]


def _groups_of(parts: list[tuple[Any, int]], rows: int) -> list[list[Any]]:
    """Consecutive (part, size) pairs cut into groups of at most ``rows`` rows (a larger part
    alone)."""
    groups: list[list[Any]] = []
    held = rows
    for part, size in parts:
        if held + size > rows:
            groups.append([])
            held = 0
        groups[-1].append(part)
        held += size
    return groups


def neighbours_of(
    block: Any, first: int, item_users: np.ndarray, catalog: Catalog, k: int
) -> pd.DataFrame:
    return neighbours.top_neighbours(block, first, item_users, catalog.in_stock, k, MIN_PAIR_COUNT)


def parse_json_file(
    path: str,
    source: str,
    catalog: Catalog,
    quarantine: str | None,
    options: dict[str, Any],
    q_options: dict[str, Any],
    chunk: int,
) -> events.ParsedPart:
    """Read and parse one JSON Lines file in one task (no lists of lines between tasks). A
    file of one `{...}` per line (the usual) goes to the parser as bytes, without Python
    strings; any other is split into lines first."""
    data = events.read_bytes(path, options)
    ends = events.object_line_ends(data)
    if ends is None:
        lines = events.split_lines(data)
        return parse_in_chunks(lines, source, catalog, quarantine, q_options, chunk)
    return parse_object_lines_in_chunks(data, ends, source, catalog, quarantine, q_options, chunk)


def parse_in_chunks(
    lines: list[Any],
    source: str,
    catalog: Catalog,
    quarantine: str | None,
    options: dict[str, Any],
    chunk: int,
) -> events.ParsedPart:
    """``events.parse_lines`` of one file, ``chunk`` lines at a time: the parse's scratch
    (records, Arrow tables, validation columns) stays that of ``chunk`` lines however big a
    file is, and the coded parts it keeps are a few dozen bytes a line. Validation is per
    line, so the result equals parsing the file whole."""
    if quarantine or len(lines) <= chunk:  # a quarantine file is written per parse_lines call
        return events.parse_lines(lines, source, catalog, quarantine, options)
    return _joined(
        [
            events.parse_lines(lines[lo : lo + chunk], source, catalog, quarantine, options)
            for lo in range(0, len(lines), chunk)
        ]
    )


def parse_object_lines_in_chunks(
    data: bytes,
    ends: np.ndarray,
    source: str,
    catalog: Catalog,
    quarantine: str | None,
    options: dict[str, Any],
    chunk: int,
) -> events.ParsedPart:
    """parse_in_chunks(events.split_lines(data), ...) for ``data`` whose line ``ends``
    events.object_line_ends found: the same chunks of lines, cut from the bytes."""
    lines = len(ends) + 1
    if quarantine or lines <= chunk:
        return events.parse_object_lines(data, lines, source, catalog, quarantine, options)
    cuts = ends[chunk - 1 :: chunk].tolist()  # the newline after each chunk's last line
    starts = [0] + [cut + 1 for cut in cuts]
    stops = cuts + [len(data) - data.endswith(b"\n")]
    return _joined(
        [
            events.parse_object_lines(
                data[start:stop], min(chunk, lines - lo), source, catalog, quarantine, options
            )
            for lo, start, stop in zip(range(0, lines, chunk), starts, stops, strict=True)
        ]
    )


def _joined(parts: list[events.ParsedPart]) -> events.ParsedPart:
    """The parts of one file's consecutive chunks as one."""
    return events.ParsedPart(
        pd.concat([p.frame for p in parts], ignore_index=True),
        pd.concat([p.users for p in parts], ignore_index=True)
        .drop_duplicates("uid")
        .reset_index(drop=True),
        _merged_stats([p.stats for p in parts]),
    )


def _merged_stats(stats: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"bad": {}, "types": {}, "min_ts": None, "max_ts": None}
    for key in ("lines", "valid", "unknown_products"):
        out[key] = sum(s[key] for s in stats)
    for key in ("bad", "types"):
        for s in stats:
            for name, n in s[key].items():
                out[key][name] = out[key].get(name, 0) + n
    lows = [s["min_ts"] for s in stats if s["min_ts"] is not None]
    highs = [s["max_ts"] for s in stats if s["max_ts"] is not None]
    out["min_ts"], out["max_ts"] = (min(lows), max(highs)) if lows else (None, None)
    return out


def recommend_for(
    stats: pd.DataFrame,
    items: pd.DataFrame,
    affinity: pd.DataFrame,
    ranked: pd.DataFrame | None,
    nb: pd.DataFrame,
    pop: pd.DataFrame,
    catalog: Catalog,
    k: int,
    history: int,
) -> pd.DataFrame:
    return recommend.recommend(
        stats["uid"].to_numpy(), items, affinity, nb, pop, catalog, k, history, ranked
    )


def ranked_for(
    items: pd.DataFrame, model: ranker.RankerModel, catalog: Catalog, as_of_ms: int, k: int
) -> pd.DataFrame:
    """The ranker's lists of one user-partition: bought products and out-of-stock excluded."""
    bought = items[items["bought"].to_numpy()]
    return ranker.score(model, items, as_of_ms, k, exclude=bought, allowed=catalog.in_stock)


def summed(parts: list[Any]) -> Any:
    """Pairwise (tree) sum of delayed arrays or sparse matrices: no task holds more than two
    partial sums."""
    while len(parts) > 1:
        pairs = [delayed(operator.add)(a, b) for a, b in zip(parts[::2], parts[1::2], strict=False)]
        parts = pairs + ([parts[-1]] if len(parts) % 2 else [])
    return parts[0]


def profiles_of(
    summary: pd.DataFrame,
    segs: pd.DataFrame,
    items: pd.DataFrame,
    affinity: pd.DataFrame,
    recs: pd.DataFrame,
    catalog: Catalog,
) -> list[Profile]:
    return assemble.profiles(summary, segs, items, affinity, recs, catalog)


def stream(client: Client, tasks: list[Any], ahead: int) -> Iterator[Any]:
    """Results of ``tasks`` in order, at most ``ahead`` computed but not yet consumed:
    publishing one partition overlaps computing the next few, and memory stays bounded."""
    pending: deque[Any] = deque()
    queue = iter(tasks)
    for task in queue:
        pending.append(client.compute(task))
        if len(pending) >= ahead:
            break
    while pending:
        future = pending.popleft()
        result = future.result()
        future.release()
        nxt = next(queue, None)
        if nxt is not None:
            pending.append(client.compute(nxt))
        yield from result


def summary_meta() -> pd.DataFrame:
    types = {
        **profiles.STATS_DTYPES,
        **ingest.PEOPLE_DTYPES,
        "r": "int8",
        "f": "int8",
        "m": "int8",
        "top_category": "str",
    }
    return codes.empty_frame({c: types[c] for c in profiles.SUMMARY_COLUMNS})


def recs_meta() -> pd.DataFrame:
    return codes.empty_frame(recommend.RECS_DTYPES)
