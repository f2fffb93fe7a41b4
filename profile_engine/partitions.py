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
from dask.base import annotate
from dask.delayed import delayed
from distributed import Client

from generation import Profile
from profile_engine import heap
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

# A pair seen in a single user's history is noise, not similarity.
MIN_PAIR_COUNT = 2
# Items rows (user x product) counted by one co-occurrence task: bounds its sums (few groups,
# so that few partial counts move and are summed, but not one per worker at any size).
NEIGHBOUR_GROUP_ROWS = 1_000_000
# Items rows up to which every block's task is handed the whole input's recent histories
# (at most 8 bytes a row: 32 MB here, in each task) instead of partial counts being summed.
NEIGHBOUR_BROADCAST_ROWS = 4_000_000
# Blocks of products per worker in that case, so that every worker has several to rank.
NEIGHBOUR_BLOCKS_PER_WORKER = 4


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
    client: Client,
    items: dd.DataFrame,
    catalog: Any,
    n_items: int,
    history: int,
    k: int,
    rows: int,
) -> list[Any]:
    """Delayed neighbour lists, one frame per block of products. ``items`` (``rows`` rows)
    is persisted; ``catalog`` may be a scattered future of the Catalog.

    Up to NEIGHBOUR_BROADCAST_ROWS rows, every partition's recent histories (a few bytes a
    row) go to every block's task, which counts and ranks its products' rows at once
    (``neighbours.block_neighbours``): like a broadcast join, nothing else moves. Larger
    inputs are counted in groups of partitions held by the same worker, so that only the
    groups' summed counts move between workers (a partition's counts are several times its
    rows); a group holds at most NEIGHBOUR_GROUP_ROWS rows, so its sums stay bounded however
    large the input. Block r of every group is summed pairwise, then ranked. The counts are
    integers: neither way of cutting the work can change a result."""
    if rows <= NEIGHBOUR_BROADCAST_ROWS:
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        step = min(neighbours.BLOCK_ROWS, -(-n_items // (NEIGHBOUR_BLOCKS_PER_WORKER * workers)))
        histories = [
            delayed(neighbours.recent_codes, pure=True)(part, history)
            for part in items.to_delayed()
        ]
        return [
            delayed(block_neighbours_of, pure=True)(histories, lo, hi, catalog, k)
            for lo, hi in neighbours.block_bounds(n_items, max(1, step))
        ]
    bounds = neighbours.block_bounds(n_items)
    holders = client.who_has(client.futures_of(items))
    sizes = items.map_partitions(len).compute().tolist()
    by_worker: dict[str, list[tuple[Any, int]]] = {}
    # to_delayed() renames the keys: the persisted ones, in the same order, say who holds what
    for key, part, size in zip(items.__dask_keys__(), items.to_delayed(), sizes, strict=True):
        by_worker.setdefault(min(holders.get(key) or ("",)), []).append((part, size))
    groups = []
    for holder, held in by_worker.items():
        # Counted where the parts are: left to itself the scheduler sent one worker's
        # group to the other after a second's wait (its inputs counted, not its work).
        with annotate(workers=[holder], allow_other_workers=True):
            groups += [
                delayed(neighbours.group_counts, nout=2, pure=True)(group, history, n_items, bounds)
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


def block_neighbours_of(
    histories: list[tuple[np.ndarray, np.ndarray]], lo: int, hi: int, catalog: Catalog, k: int
) -> pd.DataFrame:
    return neighbours.block_neighbours(histories, lo, hi, catalog.in_stock, k, MIN_PAIR_COUNT)


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
    served: str = "ranker",
) -> pd.DataFrame:
    with heap.blocks_on_heap():  # CPU-bound, many temporaries: see heap
        return recommend.recommend(
            stats["uid"].to_numpy(), items, affinity, nb, pop, catalog, k, history, ranked,
            served,
        )


def baseline_recommend_for(
    stats: pd.DataFrame,
    items: pd.DataFrame,
    affinity: pd.DataFrame,
    nb: pd.DataFrame,
    pop: pd.DataFrame,
    catalog: Catalog,
    k: int,
    history: int,
    served: str,
) -> pd.DataFrame:
    """``recommend_for`` when a baseline is served: no ranker lists to zip."""
    return recommend_for(stats, items, affinity, None, nb, pop, catalog, k, history, served)


def ranked_for(
    items: pd.DataFrame, model: ranker.RankerModel, catalog: Catalog, as_of_ms: int, k: int
) -> pd.DataFrame:
    """The ranker's lists of one user-partition: bought products and out-of-stock excluded."""
    bought = items[items["bought"].to_numpy()]
    with heap.blocks_on_heap():
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
