"""Item-to-item neighbours: co-occurrence in users' recent histories, cosine-normalised.

Split for a cluster: ``local_pairs`` pre-counts the pairs of one user-partition (integer
codes, numpy only), the pipeline shuffles those counts by the first item, and
``top_neighbours`` sums them and keeps the best in-stock partners of each item. Counting
locally first is what makes the shuffle small: a popular pair is sent once per partition,
not once per user (DESIGN: co-occurrence is 60-85% of the job).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

# c: count within one partition (at most its users), int32 to keep the shuffle by item small.
PAIR_DTYPES: dict[str, str] = {"a": "int32", "b": "int32", "c": "int32"}
NEIGHBOUR_DTYPES: dict[str, str] = {"a": "int32", "b": "int32", "score": "float64", "c": "int64"}
# Pairs generated per numpy batch: bounds memory at about 200 MB per task.
PAIR_BATCH = 8_000_000


def recent_history(items: pd.DataFrame, history: int) -> pd.DataFrame:
    """Each user's ``history`` most recently touched distinct products (newest first)."""
    uid = items["uid"].to_numpy()
    order = np.lexsort((items["pcode"].to_numpy(), -items["last_ts"].to_numpy(), uid))
    uid = uid[order]
    firsts = np.flatnonzero(np.r_[True, uid[1:] != uid[:-1]]) if len(uid) else order[:0]
    rank = np.arange(len(uid)) - np.repeat(firsts, np.diff(np.r_[firsts, len(uid)]))
    return items.take(order[rank < history]).reset_index(drop=True)


def item_user_counts(history: pd.DataFrame) -> pd.DataFrame:
    """n_i: how many users have product i in their recent history."""
    counts = history["pcode"].value_counts(sort=False)
    return pd.DataFrame(
        {"pcode": counts.index.to_numpy(dtype=np.int32), "n": counts.to_numpy(dtype=np.int64)}
    )


def local_pairs(history: pd.DataFrame) -> pd.DataFrame:
    """Co-occurrence counts of this partition, both orientations (a != b), pre-summed.

    ``history`` is sorted by uid (``recent_history``); each user contributes every unordered
    pair of their products once.
    """
    uid = history["uid"].to_numpy()
    pcode = history["pcode"].to_numpy().astype(np.int64)
    if len(uid) < 2:
        return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in PAIR_DTYPES.items()})
    starts = np.r_[0, np.flatnonzero(uid[1:] != uid[:-1]) + 1]
    sizes = np.diff(np.r_[starts, len(uid)])
    width = int(pcode.max()) + 1
    # Raw pair keys are counted a batch at a time (bounded memory), the counts merged after.
    counted: list[tuple[np.ndarray, np.ndarray]] = []
    pending: list[np.ndarray] = []
    held = 0
    for keys in _pair_keys(pcode, starts, sizes, width):
        pending.append(keys)
        held += len(keys)
        if held >= PAIR_BATCH:
            counted.append(_count(np.concatenate(pending)))
            pending, held = [], 0
    if pending:
        counted.append(_count(np.concatenate(pending)))
    if not counted:
        return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in PAIR_DTYPES.items()})
    pair, total = counted[0]
    if len(counted) > 1:
        pair, total = _sum_by_key(
            np.concatenate([k for k, _ in counted]), np.concatenate([c for _, c in counted])
        )
    lo, hi = (pair // width).astype(np.int32), (pair % width).astype(np.int32)
    total = total.astype(np.int32)
    return pd.DataFrame({"a": np.r_[lo, hi], "b": np.r_[hi, lo], "c": np.r_[total, total]})


def _pair_keys(
    pcode: np.ndarray, starts: np.ndarray, sizes: np.ndarray, width: int
) -> Iterator[np.ndarray]:
    """One int64 per unordered pair (min, max) of each user's products, in batches of about
    PAIR_BATCH; users with the same history length share one index pattern."""
    for size in np.unique(sizes[sizes >= 2]):
        ti, tj = np.triu_indices(int(size), 1)
        group = starts[sizes == size]
        step = max(1, PAIR_BATCH // len(ti))
        for first in range(0, len(group), step):
            s = group[first : first + step, None]
            a, b = pcode[s + ti].ravel(), pcode[s + tj].ravel()
            yield np.minimum(a, b) * width + np.maximum(a, b)


def _count(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct keys (sorted) and how often each occurs: one sort, then run lengths."""
    keys = np.sort(keys)
    ends = np.flatnonzero(np.r_[keys[1:] != keys[:-1], True])
    return keys[ends], np.diff(np.r_[-1, ends])


def _sum_pairs(
    a: np.ndarray, b: np.ndarray, c: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (a, b) sorted by a then b, and the sum of ``c`` (int64) per pair."""
    if len(a) == 0:
        return a, b, c.astype(np.int64)
    width = int(b.max()) + 1
    present = np.zeros(int(a.max()) + 1, dtype=bool)
    present[a] = True
    firsts = np.flatnonzero(present)
    cells = len(firsts) * width
    if cells > max(4 * len(a), 1 << 20):  # sparse: sort the (a, b) keys
        key, total = _sum_by_key(a * width + b, c)
        return key // width, key % width, total
    # Dense (the usual case: a partition's items x the catalogue): one bincount, no sort.
    # Float sums of integer counts are exact below 2**53.
    index = (np.cumsum(present) - 1)[a] * width + b
    sums = np.bincount(index, weights=c, minlength=cells)
    cell = np.flatnonzero(np.bincount(index, minlength=cells))
    return firsts[cell // width], cell % width, sums[cell].astype(np.int64)


def _sum_by_key(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct keys (sorted) and the sum of ``values`` (int64) per key."""
    order = np.argsort(keys)  # integer sums: the order within a key does not matter
    keys, values = keys[order], values[order].astype(np.int64)
    if len(keys) == 0:
        return keys, values
    firsts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    return keys[firsts], np.add.reduceat(values, firsts)


def top_neighbours(
    pairs: pd.DataFrame,
    item_users: np.ndarray,
    in_stock: np.ndarray,
    k: int,
    min_count: int = 1,
) -> pd.DataFrame:
    """Best ``k`` in-stock partners of every item ``a`` in ``pairs`` (all rows of an ``a``
    must be present): score = c_ab / sqrt(n_a * n_b), ties broken by product code."""
    a, b, c = _sum_pairs(
        pairs["a"].to_numpy(np.int64), pairs["b"].to_numpy(np.int64), pairs["c"].to_numpy()
    )
    keep = (c >= min_count) & in_stock[b]
    a, b, c = a[keep], b[keep], c[keep]
    score = c / np.sqrt(item_users[a] * item_users[b])
    # Rows come sorted by (a, b): a stable sort by (a, best score) breaks ties by product code.
    order = np.lexsort((-score, a))
    a, b, c, score = a[order], b[order], c[order], score[order]
    firsts = np.flatnonzero(np.r_[True, a[1:] != a[:-1]]) if len(a) else np.zeros(0, np.int64)
    rank = np.arange(len(a)) - np.repeat(firsts, np.diff(np.r_[firsts, len(a)]))
    top = rank < k
    out = pd.DataFrame({"a": a[top], "b": b[top], "score": score[top], "c": c[top]})
    return out.astype(NEIGHBOUR_DTYPES)
