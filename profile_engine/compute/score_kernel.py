"""The ranker's per-user scoring as one compiled pass per user (numba), for ``ranker.score``.

With numpy, a batch of users was a dozen passes over a (users, items) float32 block: the
sparse product and its densifying, the scaling to each user's best, the popularity and
category priors (a gather of the category shares), the exclusions, then the top-k. Here
each user's row of scores lives in one buffer of the model's width (20 KB at 5,000 items,
in cache), and the same arithmetic, in the same float32 order, runs on it: the user's
history rows of the weights added in, the row's largest magnitude, the scale and both
priors, the exclusions, then one scan that keeps the ``k`` best. The figures are those of
the numpy passes to the bit (``tests/profile_engine/test_score_kernel.py`` holds them side
by side). Per user-partition of the per-user lists, per trial of the tuning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import scipy.sparse as sp

from profile_engine.compute import best_k

# The scale's guard against a user whose history scores nothing (as ``ranker.score``'s).
EPSILON = np.float32(1e-9)


@dataclass(frozen=True)
class Scorer:
    """A model's weights and priors in the kernel's layout, made once per ``score`` call
    (``scorer``) and used for each batch of users (``best``)."""

    w_ptr: np.ndarray  # CSR weights (int64, int32, float32); empty with dense weights
    w_idx: np.ndarray
    w_val: np.ndarray
    w_dense: np.ndarray  # (m, m) float32 C order, or (0, 0) with sparse weights
    popularity: np.ndarray  # float32 (m,): the popularity prior x its weight
    category: np.ndarray  # int32 (m,)
    category_prior: np.ndarray  # float32 (m,): the within-category prior x its weight
    blocked: np.ndarray  # bool (m,)


def scorer(
    weights: np.ndarray | sp.csr_matrix,
    popularity: np.ndarray,
    category: np.ndarray,
    category_prior: np.ndarray,
    blocked: np.ndarray,
) -> Scorer:
    """``weights`` (m, m) dense or CSR; the priors already weighted, float32 as numpy
    computed them (the kernel adds them as they are)."""
    if sp.issparse(weights):
        w_ptr, w_idx, w_val = _csr(sp.csr_matrix(weights))
        dense = np.zeros((0, 0), np.float32)
    else:
        w_ptr, w_idx, w_val = np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32)
        dense = np.ascontiguousarray(weights, dtype=np.float32)
    return Scorer(
        w_ptr, w_idx, w_val, dense, np.ascontiguousarray(popularity, dtype=np.float32),
        np.ascontiguousarray(category, dtype=np.int32),
        np.ascontiguousarray(category_prior, dtype=np.float32),
        np.ascontiguousarray(blocked, dtype=np.bool_),
    )


def best(
    model: Scorer, x: sp.csr_matrix, share: np.ndarray | None, banned: sp.csr_matrix, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``top_rows`` for the users of ``x`` (CSR, users x model items), ``share`` their
    category shares (None: no category prior), ``banned`` (CSR, same shape) the items each
    may not get."""
    x_ptr, x_idx, x_val = _csr(x)
    ban_ptr, ban_idx, _ = _csr(banned, values=False)
    shares = np.zeros((0, 0), np.float32) if share is None else share
    return top_rows(  # type: ignore[no-any-return]
        x_ptr, x_idx, x_val, model.w_ptr, model.w_idx, model.w_val, model.w_dense,
        model.popularity, shares,
        model.category, model.category_prior, model.blocked, ban_ptr, ban_idx, k,
    )


def _csr(a: sp.csr_matrix, values: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """indptr (int64), indices (int32), data (float32) of ``a``: one compiled kernel for
    every index width scipy picks."""
    return (
        np.ascontiguousarray(a.indptr, dtype=np.int64),
        np.ascontiguousarray(a.indices, dtype=np.int32),
        np.ascontiguousarray(a.data, dtype=np.float32) if values else a.data,
    )


@numba.njit(cache=True, nogil=True)
def top_rows(
    x_ptr: np.ndarray,
    x_idx: np.ndarray,
    x_val: np.ndarray,
    w_ptr: np.ndarray,
    w_idx: np.ndarray,
    w_val: np.ndarray,
    w_dense: np.ndarray,
    popularity: np.ndarray,
    share: np.ndarray,
    category: np.ndarray,
    category_prior: np.ndarray,
    blocked: np.ndarray,
    ban_ptr: np.ndarray,
    ban_idx: np.ndarray,
    k: int,
) -> Any:
    """Each user's (row of the CSR ``x_*``) ``k`` best model items, best first, ties to
    the lower column: (top int64, score float32, own float32: the scaled personal part of
    each pick, without the priors). The weights are the CSR ``w_*`` or, when ``w_dense``
    has rows, that dense (m, m) array; ``popularity``: the weighted recent-popularity prior
    per item; ``share``: (users, categories) float32 share of each user's interest per
    category, or (0, 0) for no category prior; ``category_prior``: its weight x the item's
    within-category popularity; ``blocked``: items nobody gets; ``ban_*``: CSR of each
    user's excluded items. A NaN score (the weights never hold one) counts as -inf:
    ``ranker.score`` lists finite scores only."""
    n = len(x_ptr) - 1
    m = len(popularity)
    top = np.empty((n, k), dtype=np.int64)
    best = np.empty((n, k), dtype=np.float32)
    own = np.empty((n, k), dtype=np.float32)
    row = np.empty(m, dtype=np.float32)
    total = np.empty(m, dtype=np.float32)
    for u in range(n):
        row[:] = 0.0
        _add_history(row, x_ptr[u], x_ptr[u + 1], x_idx, x_val, w_ptr, w_idx, w_val, w_dense)
        biggest = np.float32(0.0)
        for c in range(m):
            biggest = max(biggest, abs(row[c]))
        scale = biggest + EPSILON
        for c in range(m):
            row[c] = row[c] / scale
        # The order numpy added them in: the popularity prior, then the category prior.
        if share.shape[0] > 0:
            for c in range(m):
                total[c] = (row[c] + popularity[c]) + share[u, category[c]] * category_prior[c]
        else:
            for c in range(m):
                total[c] = row[c] + popularity[c]
        for c in range(m):
            if blocked[c] or np.isnan(total[c]):  # (a NaN would stop the list filling)
                total[c] = -np.inf
        for t in range(ban_ptr[u], ban_ptr[u + 1]):
            total[ban_idx[t]] = -np.inf
        _keep_best(total, k, top[u], best[u])
        for i in range(k):
            own[u, i] = row[top[u, i]]
    return top, best, own


@numba.njit(cache=True, nogil=True, inline="always")
def _add_history(
    row: np.ndarray, lo: int, hi: int, x_idx: np.ndarray, x_val: np.ndarray,
    w_ptr: np.ndarray, w_idx: np.ndarray, w_val: np.ndarray, w_dense: np.ndarray,
) -> None:
    """The user's history entries ``lo``..``hi`` in stored order, each adding its row of
    the weights, as scipy's sparse x sparse (csr_matmat) and sparse x dense (csr_matvecs)
    products add them: the same float32 sums."""
    m = len(row)
    for jj in range(lo, hi):
        j = x_idx[jj]
        a = x_val[jj]
        if w_dense.shape[0] > 0:
            for c in range(m):
                row[c] += a * w_dense[j, c]
        else:
            for t in range(w_ptr[j], w_ptr[j + 1]):
                row[w_idx[t]] += a * w_val[t]


@numba.njit(cache=True, nogil=True)
def _keep_best(total: np.ndarray, k: int, top: np.ndarray, best: np.ndarray) -> None:
    """The ``k`` best columns of ``total`` into ``top`` and their values into ``best``,
    best first, ties to the lower column."""
    count = 0
    for c in range(len(total)):
        count = best_k.offer(best, top, count, k, total[c], c)
