"""Items similar to what each user touched recently, as sparse matrix products.

The personal tier when the job serves item neighbours (the baseline the model choice picks on
many shops): a user's score for product b sums, over the user's recent products a, the
user's interest in a times the neighbour similarity of a and b; the reason names the a that
contributes most. One product of sparse matrices (users x products times products x
products) does the sums in scipy's C code, top-k is one sort of the non-zeros, and the
reasons are looked up only for the k kept per user: joining every recent product with its
20 neighbours in pandas made ~1,000 rows a user to merge and sort twice.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from profile_engine.compute import codes
from profile_engine.compute.neighbours import recent_history

SIMILAR_FLOOR = 0.5  # scores of this tier are in (SIMILAR_FLOOR, 1]
SIMILAR_DTYPES = {"uid": "int64", "pcode": "int32", "score": "float64", "source": "int32",
                  "source_etype": "int8"}


def similar_items(
    items: pd.DataFrame, neighbours: pd.DataFrame, history: int, k: int
) -> pd.DataFrame:
    """(uid, pcode, score in (0.5, 1], source pcode, source etype): best ``k`` neighbours of
    the user's ``history`` most recent products, bought products excluded; ties go to the
    lower product code, the reason to the strongest contributor (then the lower code)."""
    hist = recent_history(items, history)
    if hist.empty or neighbours.empty or k <= 0:
        return codes.empty_frame(SIMILAR_DTYPES)
    a = neighbours["a"].to_numpy(np.int64)
    b = neighbours["b"].to_numpy(np.int64)
    pcode = hist["pcode"].to_numpy(np.int64)
    n = int(max(a.max(), b.max(), pcode.max())) + 1
    users, row = np.unique(hist["uid"].to_numpy(), return_inverse=True)
    interest = hist["score"].to_numpy(np.float64)
    near = sp.csr_matrix((neighbours["score"].to_numpy(np.float64), (a, b)), shape=(n, n))
    total = (sp.csr_matrix((interest, (row, pcode)), shape=(len(users), n)) @ near).tocoo()
    t_row, t_col, t_val = total.row, total.col.astype(np.int64), total.data

    bought = items[items["bought"].to_numpy()]
    b_uid = bought["uid"].to_numpy()
    at, known = codes.find_sorted(users, b_uid)
    banned = np.unique(at[known].astype(np.int64) * n + bought["pcode"].to_numpy(np.int64)[known])
    keep = (t_val > 0) & ~np.isin(t_row.astype(np.int64) * n + t_col, banned)
    t_row, t_col, t_val = t_row[keep], t_col[keep], t_val[keep]

    # Best k per user: total descending, then the lower product code.
    order = np.lexsort((t_col, -t_val, t_row))
    t_row, t_col, t_val = t_row[order], t_col[order], t_val[order]
    firsts = np.flatnonzero(np.r_[True, t_row[1:] != t_row[:-1]]) if len(t_row) else order[:0]
    lengths = np.diff(np.r_[firsts, len(t_row)])
    rank = np.arange(len(t_row)) - np.repeat(firsts, lengths)
    top = np.repeat(t_val[firsts], lengths)  # each user's best total
    kept = rank < k
    t_row, t_col, t_val, top = t_row[kept], t_col[kept], t_val[kept], top[kept]

    source, source_etype = _reasons(hist, row, near, t_row, t_col)
    return pd.DataFrame({
        "uid": users[t_row],
        "pcode": t_col,
        "score": SIMILAR_FLOOR + (1 - SIMILAR_FLOOR) * (t_val / top),
        "source": source,
        "source_etype": source_etype,
    })


def _reasons(hist: pd.DataFrame, row: np.ndarray, near: sp.csr_matrix, pair_row: np.ndarray,
             pair_col: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each kept (user row, product) pair: the user's recent product contributing most
    to it (interest x similarity; the lower code on ties) and that product's event type."""
    by_row = np.argsort(row, kind="stable")
    h_pcode = hist["pcode"].to_numpy(np.int64)[by_row]
    h_interest = hist["score"].to_numpy(np.float64)[by_row]
    h_etype = hist["etype"].to_numpy()[by_row]
    counts = np.bincount(row)  # rows are 0..users-1, each with a recent product
    starts = np.cumsum(counts) - counts
    # Every pair against every recent product of its user.
    reps = counts[pair_row]
    pair = np.repeat(np.arange(len(pair_row)), reps)
    offset = np.arange(len(pair)) - np.repeat(np.cumsum(reps) - reps, reps)
    h = starts[pair_row[pair]] + offset
    sim = np.asarray(near[h_pcode[h], pair_col[pair]]).ravel()
    contrib = h_interest[h] * sim
    # Per pair: the largest contribution, then the lower code.
    order = np.lexsort((h_pcode[h], -contrib, pair))
    first = order[np.flatnonzero(np.r_[True, pair[order][1:] != pair[order][:-1]])]
    return h_pcode[h[first]], h_etype[h[first]]
