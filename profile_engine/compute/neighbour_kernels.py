"""The neighbours' compiled passes: co-occurrence counts made item by item, and each row's
best partners kept in one scan of the row.

scipy's H^T H made a sparse product (two passes over every pair), which was then added into
the dense sums by fancy indexing; ranking sorted every candidate pair of a block. Here each
item's row is counted in one buffer from the histories of its users, and a row's ``k`` best
are kept while the row is read (``best_k.offer``), with the same float64 cosine, so the
same lists to the bit.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
import scipy.sparse as sp

from profile_engine.compute import best_k, cooccurrence


def add_pairs(starts: np.ndarray, pcode: np.ndarray, out: np.ndarray) -> None:
    """``out += H^T H`` for the histories ``pcode[starts[u]:starts[u + 1]]`` (one per user,
    distinct products): out[a, b] gains 1 for every user with both a and b (the diagonal
    counts each product's users). ``out``: a dense (n, n) int32 array."""
    pcode = _int64(pcode)
    ptr, lo, hi = _by_item(_int64(starts), pcode, 0, out.shape[0])
    _dense_pairs(ptr, lo, hi, pcode, out)


def pair_counts(starts: np.ndarray, pcode: np.ndarray, n_items: int) -> sp.csr_matrix:
    """``H^T H`` as add_pairs counts it, as an int32 CSR matrix (n_items square) whose rows'
    columns are in no particular order."""
    pcode = _int64(pcode)
    ptr, lo, hi = _by_item(_int64(starts), pcode, 0, n_items)
    indptr, indices, data = _sparse_pairs(ptr, lo, hi, pcode, n_items)
    return sp.csr_matrix((data, indices, indptr), shape=(n_items, n_items))


def _int64(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.int64)


def _flags(a: np.ndarray) -> np.ndarray:
    """A writable bool copy: a catalogue's arrays arrive read-only from the scattered copy,
    and numba compiles read-only arrays as another type (a second 1.5 s compile)."""
    return np.array(a, dtype=np.bool_)


# Item by item: the users of item a (a counting sort of the rows by product), each user's
# products counted into one row-sized buffer (in cache), then written to row a. Adding
# user by user instead wrote all over the matrix: 10 ns a pair, 5x slower.


@numba.njit(cache=True, nogil=True)
def _by_item(starts: np.ndarray, pcode: np.ndarray, first: int, last: int) -> Any:
    """The rows of items [first, last), by item (item a's: ptr[a - first]:ptr[a - first + 1]),
    each as the row range [lo, hi) of its user's history."""
    ptr = np.zeros(last - first + 1, dtype=np.int64)
    for s in range(len(pcode)):
        if first <= pcode[s] < last:
            ptr[pcode[s] - first + 1] += 1
    for r in range(last - first):
        ptr[r + 1] += ptr[r]
    fill = ptr[:-1].copy()
    lo = np.empty(ptr[-1], dtype=np.int64)
    hi = np.empty(ptr[-1], dtype=np.int64)
    for u in range(len(starts) - 1):
        for s in range(starts[u], starts[u + 1]):
            r = pcode[s] - first
            if 0 <= r < last - first:
                lo[fill[r]] = starts[u]
                hi[fill[r]] = starts[u + 1]
                fill[r] += 1
    return ptr, lo, hi


@numba.njit(cache=True, nogil=True, inline="always")
def _count_row(
    ptr: np.ndarray, lo: np.ndarray, hi: np.ndarray, pcode: np.ndarray, r: int,
    acc: np.ndarray, touched: np.ndarray,
) -> int:
    """Row r of _by_item's items counted into ``acc`` (zero before), the products it
    touched listed in ``touched`` in the order first met; how many."""
    seen = 0
    for t in range(ptr[r], ptr[r + 1]):
        for s in range(lo[t], hi[t]):
            b = pcode[s]
            if acc[b] == 0:
                touched[seen] = b
                seen += 1
            acc[b] += 1
    return seen


@numba.njit(cache=True, nogil=True)
def _dense_pairs(
    ptr: np.ndarray, lo: np.ndarray, hi: np.ndarray, pcode: np.ndarray, out: np.ndarray
) -> None:
    m = out.shape[0]
    acc = np.zeros(m, dtype=np.int32)
    for a in range(m):
        if ptr[a] == ptr[a + 1]:
            continue
        for t in range(ptr[a], ptr[a + 1]):
            for s in range(lo[t], hi[t]):
                acc[pcode[s]] += 1
        row = out[a]
        for b in range(m):
            row[b] += acc[b]
            acc[b] = 0


@numba.njit(cache=True, nogil=True)
def _sparse_pairs(
    ptr: np.ndarray, lo: np.ndarray, hi: np.ndarray, pcode: np.ndarray, m: int
) -> Any:
    indptr = np.zeros(m + 1, dtype=np.int64)
    indices = np.empty(max(16, 4 * len(pcode)), dtype=np.int32)
    data = np.empty(len(indices), dtype=np.int32)
    acc = np.zeros(m, dtype=np.int32)
    touched = np.empty(m, dtype=np.int32)
    n = 0
    for a in range(m):
        count = _count_row(ptr, lo, hi, pcode, a, acc, touched)
        if n + count > len(indices):
            size = max(2 * len(indices), n + count)
            indices = cooccurrence.grown(indices, size)
            data = cooccurrence.grown(data, size)
        for j in range(count):
            b = touched[j]
            indices[n] = b
            data[n] = acc[b]
            acc[b] = 0
            n += 1
        indptr[a + 1] = n
    return indptr, indices[:n].copy(), data[:n].copy()


def block_best(
    starts: np.ndarray,
    pcode: np.ndarray,
    lo: int,
    hi: int,
    item_users: np.ndarray,
    in_stock: np.ndarray,
    k: int,
    min_count: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """best_partners of rows [lo, hi) of H^T H, counted from the histories (as add_pairs
    takes them) row by row: no matrix is made, each row is ranked as soon as it is counted."""
    if k <= 0 or hi <= lo:
        return _lists(0)  # type: ignore[no-any-return]
    return _block_best(  # type: ignore[no-any-return]
        _int64(starts), _int64(pcode), int(lo), int(hi), _int64(item_users),
        _flags(in_stock), int(k), max(int(min_count), 1),
    )


@numba.njit(cache=True, nogil=True)
def _block_best(
    starts: np.ndarray, pcode: np.ndarray, lo: int, hi: int,
    users: np.ndarray, stock: np.ndarray, k: int, low: int,
) -> Any:
    m = len(users)
    ptr, row_lo, row_hi = _by_item(starts, pcode, lo, hi)
    a_out, b_out, c_out, s_out, best, col = _scratch(hi - lo, k)
    acc = np.zeros(m, dtype=np.int64)
    touched = np.empty(m, dtype=np.int64)
    n = 0
    for a in range(lo, hi):
        seen = _count_row(ptr, row_lo, row_hi, pcode, a - lo, acc, touched)
        count = 0
        for j in range(seen):
            b = touched[j]
            count = _offer(best, col, count, k, users, stock, low, a, b, acc[b], b)
        for j in range(count):
            a_out[n], b_out[n], c_out[n], s_out[n] = a, col[j], acc[col[j]], best[j]
            n += 1
        for j in range(seen):
            acc[touched[j]] = 0
    return a_out[:n], b_out[:n], c_out[:n], s_out[:n]


def best_partners(
    block: np.ndarray | sp.csr_matrix,
    first: int,
    item_users: np.ndarray,
    in_stock: np.ndarray,
    k: int,
    min_count: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(a, b, c, score) of each row's ``k`` best partners b: in stock, not the row's own item
    ``a = first + row``, counted together ``c >= max(min_count, 1)`` times; score =
    c / sqrt(n_a n_b) in float64, best first, ties to the lower product code; rows in order."""
    users = _int64(item_users)
    stock = _flags(in_stock)
    low, k = max(int(min_count), 1), int(k)
    if k <= 0 or block.shape[0] == 0:
        return _lists(0)  # type: ignore[no-any-return]
    if isinstance(block, np.ndarray):
        return _dense_best(np.ascontiguousarray(block), first, users, stock, k, low)  # type: ignore[no-any-return]
    csr = sp.csr_matrix(block)
    csr.sum_duplicates()  # one entry per pair (a summed block has them already)
    return _sparse_best(  # type: ignore[no-any-return]
        np.ascontiguousarray(csr.indptr, dtype=np.int64),
        np.ascontiguousarray(csr.indices, dtype=np.int64),
        np.ascontiguousarray(csr.data, dtype=np.int64),
        first, users, stock, k, low,
    )


@numba.njit(cache=True, nogil=True)
def _dense_best(
    block: np.ndarray, first: int, users: np.ndarray, stock: np.ndarray, k: int, low: int
) -> Any:
    rows, m = block.shape
    a_out, b_out, c_out, s_out, best, col = _scratch(rows, k)
    n = 0
    for r in range(rows):
        a = first + r
        count = 0
        for b in range(m):
            count = _offer(best, col, count, k, users, stock, low, a, b, block[r, b], b)
        for j in range(count):
            a_out[n], b_out[n], c_out[n], s_out[n] = a, col[j], block[r, col[j]], best[j]
            n += 1
    return a_out[:n], b_out[:n], c_out[:n], s_out[:n]


@numba.njit(cache=True, nogil=True)
def _sparse_best(
    ptr: np.ndarray, idx: np.ndarray, val: np.ndarray,
    first: int, users: np.ndarray, stock: np.ndarray, k: int, low: int,
) -> Any:
    rows = len(ptr) - 1
    a_out, b_out, c_out, s_out, best, col = _scratch(rows, k)
    n = 0
    for r in range(rows):
        a = first + r
        count = 0
        # Offered by entry: a canonical row's columns ascend with it, so ties go the same way.
        for t in range(ptr[r], ptr[r + 1]):
            count = _offer(best, col, count, k, users, stock, low, a, idx[t], val[t], t)
        for j in range(count):
            t = col[j]
            a_out[n], b_out[n], c_out[n], s_out[n] = a, idx[t], val[t], best[j]
            n += 1
    return a_out[:n], b_out[:n], c_out[:n], s_out[:n]


@numba.njit(cache=True, nogil=True)
def _lists(size: int) -> Any:
    return (
        np.empty(size, dtype=np.int64),
        np.empty(size, dtype=np.int64),
        np.empty(size, dtype=np.int64),
        np.empty(size, dtype=np.float64),
    )


@numba.njit(cache=True, nogil=True, inline="always")
def _offer(
    best: np.ndarray, col: np.ndarray, count: int, k: int, users: np.ndarray,
    stock: np.ndarray, low: int, a: int, b: int, c: int, key: int,
) -> int:
    """Offer b, counted ``c`` times with a, as a partner of a (kept under ``key``) if it may
    be one: often enough, not a itself, in stock; scored by the cosine c / sqrt(n_a n_b)."""
    if c >= low and b != a and stock[b]:
        return best_k.offer(best, col, count, k, c / np.sqrt(users[a] * users[b]), key)
    return count


@numba.njit(cache=True, nogil=True)
def _scratch(rows: int, k: int) -> Any:
    """The output lists of ``rows`` rows of at most ``k`` partners, and one row's best."""
    a_out, b_out, c_out, s_out = _lists(rows * k)
    return a_out, b_out, c_out, s_out, np.empty(k, dtype=np.float64), np.empty(k, dtype=np.int64)
