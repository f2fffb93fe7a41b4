"""The ranker's non-personal priors: recent popularity overall and within each user's
categories, both scaled so that the best item (overall, or of its category) scores 1.

The category prior is the "best blend" of the ranker with the category baseline: on a shop
whose customers keep to their categories (the synthetic shop, many fashion and grocery
shops), the most popular items of a user's categories are a strong list, and item-to-item
weights learned from few co-occurrences do not find them on their own.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def scaled(values: np.ndarray) -> np.ndarray:
    """``values`` / their maximum (zeros stay zeros)."""
    out = np.asarray(values, dtype=np.float64).copy()
    if len(out) and out.max() > 0:
        out /= out.max()
    return out


def within_category(recent: np.ndarray, category: np.ndarray) -> np.ndarray:
    """Each item's recent popularity over the best of its category."""
    best = np.zeros(int(category.max()) + 1 if len(category) else 1)
    np.maximum.at(best, category, recent)
    out: np.ndarray = np.where(best[category] > 0, recent / np.maximum(best[category], 1e-12), 0.0)
    return out


def category_shares(x: sp.csr_matrix, category: np.ndarray) -> np.ndarray:
    """(users of ``x``, categories) float32: the share of each user's (weighted) interest
    in each category (rows sum to 1; 0 for a user with none)."""
    n_cat = int(category.max()) + 1 if len(category) else 1
    onehot = sp.csr_matrix(
        (np.ones(len(category)), (np.arange(len(category)), category)), shape=(len(category), n_cat)
    )
    counts = np.asarray((x @ onehot).todense(), dtype=np.float64)
    counts /= np.maximum(counts.sum(axis=1, keepdims=True), 1e-12)
    return counts.astype(np.float32)
