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
    float32, CSR. ``gram``'s rows need not have sorted columns (a sparse product's do not:
    sorting 7 M pairs took a third of a trial's fit), only each sparse block is sorted."""
    g = sp.csr_matrix(gram, dtype=np.float32)
    m = g.shape[0]
    norms = np.sqrt(np.maximum(g.diagonal().astype(np.float64), 0.0))
    dense_rows = max(1, DENSE_CELLS // max(m, 1))
    kept: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    lo = 0
    while lo < m:
        hi = min(lo + dense_rows, m)
        if g.indptr[hi] - g.indptr[lo] >= DENSE_SHARE * (hi - lo) * m:
            kept.append(_best_dense(g[lo:hi].toarray(), norms, lo, neighbours, shrink))
            lo = hi
            continue
        hi = min(lo + ROW_BLOCK, m)
        block = g[lo:hi]
        block.sort_indices()
        coo = block.tocoo()  # row-major, columns ascending within a row
        r = coo.row.astype(np.int64) + lo
        c = coo.col.astype(np.int64)
        sim = coo.data / (norms[r] * norms[c] + shrink + 1e-12)
        keep = (r != c) & (sim > 0)
        r, c, sim = r[keep], c[keep], sim[keep]
        pick = top_k.best_entries(r, sim, neighbours)
        kept.append((r[pick], c[pick], sim[pick].astype(np.float32)))
        lo = hi
    if not kept:
        return sp.csr_matrix((m, m), dtype=np.float32)
    rows, cols, vals = (np.concatenate(part) for part in zip(*kept, strict=True))
    return sp.csr_matrix((vals, (rows, cols)), shape=(m, m), dtype=np.float32)


def _best_dense(
    values: np.ndarray, norms: np.ndarray, lo: int, neighbours: int, shrink: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sparse path's selection on a dense block of Gram rows ``lo``.. (rows, m): each
    row's ``neighbours`` best positive similarities, of equal ones the lowest columns. Rows,
    columns (row-major, columns ascending) and float32 similarities of the kept entries."""
    rows, m = values.shape
    # As the sparse path computes it, in place: norms_i norms_j + shrink + 1e-12, divided.
    sim = np.multiply.outer(norms[lo : lo + rows], norms)
    sim += shrink
    sim += 1e-12
    np.divide(values, sim, out=sim)
    sim[np.arange(rows), np.arange(lo, lo + rows)] = 0.0
    np.maximum(sim, 0.0, out=sim)  # only positive similarities are neighbours
    # top_k.best's threshold keeps about 1.05x the wanted entries a row before the exact
    # sort: a third of the time of a partial sort of every row, the same entries.
    best = top_k.best(sim, neighbours)
    best.sort(axis=1)  # row-major, columns ascending: the layout the sparse path gives
    r = np.repeat(np.arange(rows), best.shape[1])
    c = best.ravel()
    values = sim[r, c]
    positive = values > 0  # a zero at the cut is no neighbour
    return r[positive] + lo, c[positive], values[positive].astype(np.float32)


def model_bytes(w: sp.csr_matrix) -> int:
    return int(w.data.nbytes + w.indices.nbytes + w.indptr.nbytes)
