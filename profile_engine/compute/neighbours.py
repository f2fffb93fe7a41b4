"""Item-to-item neighbours: co-occurrence in users' recent histories, cosine-normalised.

Split for a cluster: ``group_counts`` counts the co-occurrences of a group of user-partitions
as an item x item matrix (users^T @ users of their recent histories, in C), cut into row
blocks; the pipeline sums block r of every group pairwise, and ``top_neighbours`` keeps the
best in-stock partners of each item of a summed block. Only summed counts travel, never one
row per pair: a popular pair costs one matrix entry per group, and a task's memory is
bounded by its group's rows and its block (DESIGN: co-occurrence is 60-85% of the job).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from profile_engine.compute import codes, neighbour_kernels

NEIGHBOUR_DTYPES: dict[str, str] = {"a": "int32", "b": "int32", "score": "float64", "c": "int64"}
# Rows (items) per block of the co-occurrence matrix: summing and ranking one block is one
# task, whose memory is at most BLOCK_ROWS x the catalogue's entries however many events.
BLOCK_ROWS = 1024
# A group's counts are summed in dense arrays when the whole item x item matrix has at most
# this many cells (4 bytes each: 128 MB, about 5,800 products), else as sparse matrices.
DENSE_CELLS = 1 << 25
# History rows counted in one sparse product: bounds a task's scratch (the product's entries
# are at most rows x history and at most the catalogue squared).
COUNT_BATCH = 500_000
# Sparse sums merge their pending additions once these hold this many entries.
SPARSE_MERGE = 4_000_000


def recent_history(items: pd.DataFrame, history: int) -> pd.DataFrame:
    """Each user's ``history`` most recently touched distinct products (newest first)."""
    uid = items["uid"].to_numpy()
    order = _newest_first(uid, items["last_ts"].to_numpy(), items["pcode"].to_numpy())
    starts = _user_starts(uid[order])
    rank = np.arange(len(order)) - np.repeat(starts[:-1], np.diff(starts))
    return items.take(order[rank < history]).reset_index(drop=True)


def _newest_first(uid: np.ndarray, last_ts: np.ndarray, pcode: np.ndarray) -> np.ndarray:
    """``np.lexsort((pcode, -last_ts, uid))``. Rows already by (uid, pcode), as
    ``profiles.user_items`` leaves them, need only a stable sort by (user, newest first):
    one argsort of a packed int64 key, a third of the three-key lexsort's time."""
    if len(uid) > 1 and (uid[1:] >= uid[:-1]).all():
        same = uid[1:] == uid[:-1]
        newest = int(last_ts.max())
        key = codes.packed([
            (np.r_[0, np.cumsum(~same)].astype(np.int64), int(np.count_nonzero(~same)) + 1),
            ((newest - last_ts).astype(np.int64), newest - int(last_ts.min()) + 1),
        ]) if (pcode[1:][same] > pcode[:-1][same]).all() else None
        if key is not None:
            order: np.ndarray = np.argsort(key, kind="stable")
            return order
    return np.lexsort((pcode, -last_ts, uid))


def recent_codes(items: pd.DataFrame, history: int) -> tuple[np.ndarray, np.ndarray]:
    """A user-partition's recent histories, compact: each user's row count (int32) and the
    products (int32), users in turn (what ``block_neighbours`` takes from every partition)."""
    hist = recent_history(items, history)
    return (
        np.diff(_user_starts(hist["uid"].to_numpy())).astype(np.int32),
        hist["pcode"].to_numpy().astype(np.int32),
    )


def block_neighbours(
    histories: list[tuple[np.ndarray, np.ndarray]],
    lo: int,
    hi: int,
    in_stock: np.ndarray,
    k: int,
    min_count: int = 1,
) -> pd.DataFrame:
    """top_neighbours of items [lo, hi) from every partition's ``recent_codes``, counted
    here: the whole input's histories are small enough to hand to each block's task, and
    then no partial counts are made, moved or summed."""
    lengths = np.concatenate([h[0] for h in histories]) if histories else np.zeros(0, np.int32)
    pcode = np.concatenate([h[1] for h in histories]) if histories else np.zeros(0, np.int32)
    starts = np.r_[0, np.cumsum(lengths, dtype=np.int64)]
    item_users = np.bincount(pcode, minlength=len(in_stock)).astype(np.int64)
    a, b, c, score = neighbour_kernels.block_best(
        starts, pcode, lo, hi, item_users, in_stock, k, min_count
    )
    return pd.DataFrame({"a": a, "b": b, "score": score, "c": c}).astype(NEIGHBOUR_DTYPES)


def block_bounds(n_items: int, rows: int = BLOCK_ROWS) -> list[tuple[int, int]]:
    """[lo, hi) item ranges of the co-occurrence matrix's row blocks."""
    return [(lo, min(lo + rows, n_items)) for lo in range(0, max(n_items, 1), rows)]


def partition_counts(
    items: pd.DataFrame, history: int, n_items: int, bounds: list[tuple[int, int]]
) -> tuple[np.ndarray, list[sp.csr_matrix]]:
    """One user-partition's counts (``history_counts`` of its recent histories)."""
    return history_counts(recent_history(items, history), n_items, bounds)


def history_counts(
    hist: pd.DataFrame, n_items: int, bounds: list[tuple[int, int]]
) -> tuple[np.ndarray, list[sp.csr_matrix]]:
    """n_i (users with product i in their recent history) and the co-occurrence counts
    C[a, b] (users with both; the diagonal is n_i), one CSR matrix per row block of
    ``bounds``. ``hist`` holds each user's rows together, distinct (uid, pcode): every entry
    of the user x item matrix H is 1, and C = H^T H counts users."""
    uid = hist["uid"].to_numpy()
    pcode = hist["pcode"].to_numpy().astype(np.int32)
    co = neighbour_kernels.pair_counts(_user_starts(uid), pcode, n_items)  # columns unsorted
    item_users = np.bincount(pcode, minlength=n_items).astype(np.int64)
    return item_users, [co[lo:hi] for lo, hi in bounds]


def group_counts(
    parts: list[pd.DataFrame], history: int, n_items: int, bounds: list[tuple[int, int]]
) -> tuple[np.ndarray, list[np.ndarray | sp.csr_matrix]]:
    """The counts of several user-partitions, summed: their histories counted together into
    one dense int32 matrix when the catalogue is small enough, else sparse products of up
    to COUNT_BATCH history rows (one product instead of one per partition, and far fewer
    additions); users are distinct between partitions, so their rows stay together."""
    if n_items * n_items <= DENSE_CELLS:
        hist = pd.concat(
            [recent_history(items, history)[["uid", "pcode"]] for items in parts],
            ignore_index=True,
        )
        pcode = hist["pcode"].to_numpy()
        counts = np.zeros((n_items, n_items), dtype=np.int32)
        neighbour_kernels.add_pairs(_user_starts(hist["uid"].to_numpy()), pcode, counts)
        return np.bincount(pcode, minlength=n_items).astype(np.int64), [
            counts[lo:hi] for lo, hi in bounds
        ]
    item_users = np.zeros(n_items, dtype=np.int64)
    sums = [_BlockSum(hi - lo, n_items) for lo, hi in bounds]

    def count(batch: list[pd.DataFrame]) -> None:
        users, blocks = history_counts(pd.concat(batch, ignore_index=True), n_items, bounds)
        item_users[:] += users
        for total, block in zip(sums, blocks, strict=True):
            total.add(block)

    batch: list[pd.DataFrame] = []
    held = 0
    for items in parts:
        hist = recent_history(items, history)[["uid", "pcode"]]
        batch.append(hist)
        held += len(hist)
        if held >= COUNT_BATCH:
            count(batch)
            batch, held = [], 0
    if batch:
        count(batch)
    return item_users, [total.result() for total in sums]


def _user_starts(uid: np.ndarray) -> np.ndarray:
    """Where each user's rows (together) start, and the end."""
    starts = np.flatnonzero(np.r_[True, uid[1:] != uid[:-1]]) if len(uid) else np.zeros(0, int)
    bounds: np.ndarray = np.r_[starts, len(uid)]
    return bounds


class _BlockSum:
    """Sum of one sparse row block's counts over many partitions. Adding sparse matrices one
    by one costs the running total's size each time: additions are merged in batches."""

    def __init__(self, rows: int, cols: int) -> None:
        self.shape = (rows, cols)
        self.pending: list[sp.csr_matrix] = []
        self.held = 0

    def add(self, block: sp.csr_matrix) -> None:
        self.pending.append(block)
        self.held += block.nnz
        if self.held >= SPARSE_MERGE and len(self.pending) > 1:
            self.pending, self.held = [self._merged()], 0

    def _merged(self) -> sp.csr_matrix:
        coo = sp.vstack(self.pending, format="coo") if len(self.pending) > 1 else None
        if coo is None:
            return self.pending[0]
        rows = coo.row % self.shape[0]  # vstack stacked the blocks: fold them back
        merged = sp.csr_matrix((coo.data, (rows, coo.col)), shape=self.shape)  # sums duplicates
        return merged

    def result(self) -> sp.csr_matrix:
        if not self.pending:
            return sp.csr_matrix(self.shape, dtype=np.int32)
        return self._merged()


def top_neighbours(
    block: np.ndarray | sp.spmatrix,
    first: int,
    item_users: np.ndarray,
    in_stock: np.ndarray,
    k: int,
    min_count: int = 1,
) -> pd.DataFrame:
    """Best ``k`` in-stock partners of every item of a summed row block (dense or sparse)
    whose first row is item ``first``: score = c_ab / sqrt(n_a * n_b), ties broken by
    product code; pairs counted fewer than ``min_count`` times (or never) are left out."""
    a, b, c, score = neighbour_kernels.best_partners(
        block, first, item_users, in_stock, k, min_count
    )
    out = pd.DataFrame({"a": a, "b": b, "score": score, "c": c})
    return out.astype(NEIGHBOUR_DTYPES)


def item_neighbours(
    items: pd.DataFrame, history: int, in_stock: np.ndarray, k: int, min_count: int = 1
) -> pd.DataFrame:
    """The neighbours of one frame's users in one process (tests, small inputs): what the
    pipeline's per-block tasks give together."""
    n = len(in_stock)
    item_users, (co,) = partition_counts(items, history, n, [(0, n)])
    return top_neighbours(co, 0, item_users, in_stock, k, min_count)


def empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in NEIGHBOUR_DTYPES.items()})
