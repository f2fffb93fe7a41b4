"""The ranker's sparse family: item-KNN with shrinkage over the weighted co-occurrence (Gram).

Memory grows with the co-occurring pairs, not with the square of the catalogue: the Gram is
a sparse matrix summed over user-partitions, and the model keeps at most ``neighbours``
weights per product (12 bytes each: 100,000 products x 100 neighbours = 120 MB). Dacrema et
al. (RecSys 2019) found tuned item-KNN level with most published recommenders; shrinkage
(Bell & Koren) damps similarities resting on few co-occurrences.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from profile_engine.compute import top_k

# Rows of the Gram pruned at once: bounds the scratch of ``weights`` to this many rows'
# pairs (a row holds at most every product its users touched).
ROW_BLOCK = 4_096
# A block of rows at least this dense is pruned as a dense (rows, m) array of at most
# DENSE_CELLS cells: one partial sort per row instead of sorting every pair (small
# catalogues with busy users make a nearly dense Gram).
DENSE_SHARE = 0.125
DENSE_CELLS = 2_000_000


def weights(gram: sp.spmatrix, neighbours: int, shrink: float) -> sp.csr_matrix:
    """Row i: the ``neighbours`` items most similar to item i, by shrunk cosine
    ``G_ij / (sqrt(G_ii G_jj) + shrink)``, ties to the lower column; the diagonal is zero.
    float32, CSR."""
    g = sp.csr_matrix(gram, dtype=np.float32)
    g.sort_indices()
    m = g.shape[0]
    norms = np.sqrt(np.maximum(g.diagonal().astype(np.float64), 0.0))
    dense_rows = max(1, DENSE_CELLS // max(m, 1))
    kept: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    lo = 0
    while lo < m:
        hi = min(lo + dense_rows, m)
        dense = g.indptr[hi] - g.indptr[lo] >= DENSE_SHARE * (hi - lo) * m
        if not dense:
            hi = min(lo + ROW_BLOCK, m)
        block = g[lo:hi].tocoo()  # row-major, columns ascending within a row
        r = block.row.astype(np.int64) + lo
        c = block.col.astype(np.int64)
        sim = block.data / (norms[r] * norms[c] + shrink + 1e-12)
        keep = (r != c) & (sim > 0)
        r, c, sim = r[keep], c[keep], sim[keep]
        pick = _best_dense(r - lo, c, sim, hi - lo, m, neighbours) if dense else top_k.best_entries(
            r, sim, neighbours
        )
        kept.append((r[pick], c[pick], sim[pick].astype(np.float32)))
        lo = hi
    if not kept:
        return sp.csr_matrix((m, m), dtype=np.float32)
    rows, cols, vals = (np.concatenate(part) for part in zip(*kept, strict=True))
    return sp.csr_matrix((vals, (rows, cols)), shape=(m, m), dtype=np.float32)


def _best_dense(
    r: np.ndarray, c: np.ndarray, sim: np.ndarray, rows: int, m: int, neighbours: int
) -> np.ndarray:
    """The same selection as ``top_k.best_entries`` through a dense (rows, m) block (``r``: row
    within the block): each row's ``neighbours``-th best value by a partial sort, every
    entry above it, and of the entries equal to it the lowest columns up to ``neighbours``."""
    if neighbours >= m or not len(r):
        return np.arange(len(r))
    values = np.zeros((rows, m), dtype=np.float64)
    values[r, c] = sim
    cut = -np.partition(-values, neighbours - 1, axis=1)[:, neighbours - 1]
    above = sim > cut[r]
    room = neighbours - np.bincount(r[above], minlength=rows)
    tied = np.flatnonzero(sim == cut[r])
    # Rank of each tied entry within its row (entries are in column order).
    first = np.searchsorted(r[tied], r[tied], side="left")
    take = tied[np.arange(len(tied)) - first < room[r[tied]]]
    out = np.sort(np.concatenate([np.flatnonzero(above), take]))
    return out


def model_bytes(w: sp.csr_matrix) -> int:
    return int(w.data.nbytes + w.indices.nbytes + w.indptr.nbytes)
