"""The best ``k`` columns of each row of a dense score block, best first.

``np.argpartition`` on every row costs some 15 ns a cell (an introselect per row), and the
evaluation's baselines rank every validation user's row of item scores (the ranker's lists
and the KNN pruning have compiled passes of their own: ``score_kernel``, ``item_knn``).
A row's k-th best score is at least the k-th best of its group maxima (any k groups each
hold one score at least that high), so one pass of column-group maxima (an elementwise
maximum over column slices: vectorised) and a partition of those few maxima give a
threshold that keeps only a handful of candidates per row; the candidates are then sorted
exactly. Ties go to the lower column, so the result is the same on every machine
(argpartition leaves ties in whatever order its selection reached them).
"""

from __future__ import annotations

import numpy as np

# Columns per group: about sqrt(m) groups of sqrt(m) columns balances the two passes.
MIN_GROUP = 8
# Groups per wanted column, when the row has room for them (see ``best``).
GROUPS_PER_K = 3
# Rows whose threshold keeps more candidates than this many per wanted column (long runs of
# equal scores: a popularity list, an all-zero row) are ranked by argpartition instead.
MAX_CANDIDATES_PER_K = 8


def best(scores: np.ndarray, k: int) -> np.ndarray:
    """(rows, min(k, m)) column indices of each row's highest scores, highest first, ties
    to the lower column. ``scores``: (rows, m), any float dtype, -inf allowed, NaN not."""
    rows, m = scores.shape
    k = min(k, m)
    if rows == 0 or k == 0:
        return np.empty((rows, k), dtype=np.int64)
    # At least GROUPS_PER_K * k groups when the row is long enough: the k-th best group
    # maximum is then close to the k-th best score (about 1.05 k candidates a row at k = 20
    # to 100 on a 5,000-item Gram), where sqrt(m) groups would be too few for a large k.
    width = max(MIN_GROUP, min(int(np.sqrt(m)), m // (GROUPS_PER_K * k)))
    groups = m // width
    if groups < 2 * k:  # too few groups for the threshold to cut anything
        return _exact(scores, np.arange(rows), k)
    # Group g holds columns g, g + groups, g + 2 * groups, ...: the maximum over ``width``
    # contiguous column slices of the row, one vectorised pass; the tail columns are
    # groups of their own.
    head = scores[:, : groups * width].reshape(rows, width, groups).max(axis=1)
    maxima = np.concatenate([head, scores[:, groups * width :]], axis=1)
    cut = np.partition(maxima, maxima.shape[1] - k, axis=1)[:, maxima.shape[1] - k]
    keep = scores >= cut[:, None]
    counts = np.count_nonzero(keep, axis=1)
    if (counts < k).any():  # only a NaN score breaks the bound: never return garbage
        raise ValueError("top_k.best: the scores hold NaN")
    crowded = counts > MAX_CANDIDATES_PER_K * k
    out = np.empty((rows, k), dtype=np.int64)
    if crowded.any():
        keep[crowded] = False
        out[crowded] = _exact(scores, np.flatnonzero(crowded), k)
    # Every other row keeps at least k candidates: its k best, in order.
    r, c = positions(keep)
    out[~crowded] = c[best_entries(r, scores[r, c], k)].reshape(-1, k)
    return out


def positions(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.nonzero`` of a 2-D ``mask`` (row-major order) from its flat positions: numpy's
    2-D nonzero costs some 2 ns a cell, 9x as much as flatnonzero on a sparse mask."""
    flat = np.flatnonzero(mask)
    rows = flat // mask.shape[1]
    return rows, flat - rows * mask.shape[1]


def best_mask(values: np.ndarray, k: int) -> np.ndarray:
    """Each row's ``k`` highest entries of a dense block as a mask: everything above the
    row's k-th value (a partial sort) and, of its ties, the lowest columns up to ``k``."""
    rows, m = values.shape
    if k >= m:
        return np.ones(values.shape, dtype=bool)
    cut = np.partition(values, m - k, axis=1)[:, m - k]
    keep = values > cut[:, None]
    room = k - np.count_nonzero(keep, axis=1)
    tied = values == cut[:, None]
    # Only rows with more ties at the cut than room need their ties ranked.
    over = np.flatnonzero(np.count_nonzero(tied, axis=1) > room)
    tied[over] &= np.cumsum(tied[over], axis=1) <= room[over, None]
    keep |= tied
    return keep


def best_entries(r: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    """Positions of each row's ``k`` best entries, row by row and best first (entries
    row-major, columns ascending, as ``np.nonzero`` gives them: a stable sort keeps the
    lower column first on ties)."""
    order = np.lexsort((-values, r))
    starts = np.searchsorted(r[order], r[order], side="left")
    return order[np.arange(len(r)) - starts < k]


def _exact(scores: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """``best`` for ``rows`` of ``scores`` by a partial sort (``best_mask``), the boundary's
    ties resolved to the lower column like the fast path."""
    block = scores[rows]
    keep = best_mask(block, k)
    r, c = positions(keep)
    out: np.ndarray = c[best_entries(r, block[r, c], k)].reshape(len(rows), k)
    return out
