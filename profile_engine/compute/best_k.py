"""A row's ``k`` best entries kept in order while the row is scanned once (compiled code).

Used by the compiled passes (``score_kernel``, ``item_knn``): after the first few hundred
entries hardly any beats the k-th kept, so the insertion's shifts are rare; a heap was
slower here even at k = 100.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, inline="always")
def offer(best: np.ndarray, col: np.ndarray, count: int, k: int, value: float, column: int) -> int:
    """Keep ``value`` (at ``column``) among the ``count`` kept in ``best``/``col``, best
    first, ties to the lower column, at most ``k`` (an equal value from a higher column does
    not get in); the new count. NaN never gets in once ``k`` are kept."""
    if count == k and not (value > best[k - 1] or (value == best[k - 1] and column < col[k - 1])):
        return count
    pos = count if count < k else k - 1
    while pos > 0 and (best[pos - 1] < value or (best[pos - 1] == value and col[pos - 1] > column)):
        best[pos] = best[pos - 1]
        col[pos] = col[pos - 1]
        pos -= 1
    best[pos] = value
    col[pos] = column
    return count + 1 if count < k else k
