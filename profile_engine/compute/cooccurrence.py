"""The ranker's Gram matrix ``X^T X`` (items x items, summed over users) in one compiled pass.

scipy's sparse product made it in two passes over every co-occurring pair (one to size the
result, one to sum), and the EASE family then densified the result. Here each item's row is
summed in a float64 row of the catalogue's width: for each user of the item (ascending, as
scipy's CSC order has them), the user's row of X; the same products in the same order, so
the same float64 sums, rounded to float32 as before. Sparse (KNN): one pass, each row's
columns in the order first touched (the pruning needs no order); dense (EASE): written
straight into the (m, m) float32 array.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
import scipy.sparse as sp


def gram(x: sp.csr_matrix, dense: bool) -> np.ndarray | sp.csr_matrix:
    """``x.T @ x`` (``x``: users x items, float64) as float32: a dense array or CSR."""
    m = x.shape[1]
    x = sp.csr_matrix(x, dtype=np.float64)
    by_item = x.tocsc()  # each item's users, ascending
    args = (
        np.ascontiguousarray(by_item.indptr, dtype=np.int64),
        np.ascontiguousarray(by_item.indices, dtype=np.int64),
        np.ascontiguousarray(by_item.data, dtype=np.float64),
        np.ascontiguousarray(x.indptr, dtype=np.int64),
        np.ascontiguousarray(x.indices, dtype=np.int32),
        np.ascontiguousarray(x.data, dtype=np.float64),
    )
    if dense:
        out = np.zeros((m, m), dtype=np.float32)
        _dense_rows(*args, out)
        return out
    indptr, indices, data = _sparse_rows(*args, m)
    return sp.csr_matrix((data, indices, indptr), shape=(m, m))


@numba.njit(cache=True, nogil=True)
def _sparse_rows(
    c_ptr: np.ndarray, c_users: np.ndarray, c_val: np.ndarray,
    x_ptr: np.ndarray, x_idx: np.ndarray, x_val: np.ndarray, m: int,
) -> Any:
    """CSR of the product: each row's non-zero sums (scipy drops the zero ones too), in
    the order their columns were first touched; the arrays grow as rows are added."""
    indptr = np.zeros(m + 1, dtype=np.int64)
    indices = np.empty(max(16, 4 * len(x_idx)), dtype=np.int32)
    data = np.empty(len(indices), dtype=np.float32)
    acc = np.zeros(m, dtype=np.float64)
    seen = np.full(m, -1, dtype=np.int32)
    touched = np.empty(m, dtype=np.int32)
    n = 0
    for j in range(m):
        count = 0
        for t in range(c_ptr[j], c_ptr[j + 1]):
            u = c_users[t]
            a = c_val[t]
            for s in range(x_ptr[u], x_ptr[u + 1]):
                k = x_idx[s]
                if seen[k] != j:
                    seen[k] = j
                    touched[count] = k
                    count += 1
                acc[k] += a * x_val[s]
        if n + count > len(indices):
            size = max(2 * len(indices), n + count)
            indices = grown(indices, size)
            data = grown(data, size)
        for r in range(count):
            k = touched[r]
            if acc[k] != 0.0:
                indices[n] = k
                data[n] = acc[k]
                n += 1
            acc[k] = 0.0
        indptr[j + 1] = n
    return indptr, indices[:n].copy(), data[:n].copy()


@numba.njit(cache=True, nogil=True)
def grown(a: np.ndarray, size: int) -> np.ndarray:
    out = np.empty(size, dtype=a.dtype)
    out[: len(a)] = a
    return out


@numba.njit(cache=True, nogil=True)
def _dense_rows(
    c_ptr: np.ndarray, c_users: np.ndarray, c_val: np.ndarray,
    x_ptr: np.ndarray, x_idx: np.ndarray, x_val: np.ndarray, out: np.ndarray,
) -> None:
    m = out.shape[0]
    acc = np.zeros(m, dtype=np.float64)
    for j in range(m):
        for t in range(c_ptr[j], c_ptr[j + 1]):
            u = c_users[t]
            a = c_val[t]
            for s in range(x_ptr[u], x_ptr[u + 1]):
                acc[x_idx[s]] += a * x_val[s]
        for k in range(m):
            out[j, k] = acc[k]
            acc[k] = 0.0
