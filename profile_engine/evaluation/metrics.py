"""Ranking metrics of EVALUATION.md step 5: P@k, R@k, NDCG@k (binary gain), HR@k, coverage@k."""

from __future__ import annotations

import numpy as np

CUTOFFS = (10, 20)


def ranking_metrics(
    top: np.ndarray, relevant: list[np.ndarray], n_items: int
) -> dict[str, float]:
    """``top``: (evaluated users, >= 20) item codes, best first (-1 = no item); ``relevant``:
    the new test items of the same users. Means over users."""
    n = len(relevant)
    if n == 0:
        return {}
    hits = _hits(top, relevant)
    n_rel = np.array([len(r) for r in relevant], dtype=np.float64)
    discount = 1.0 / np.log2(np.arange(2, top.shape[1] + 2))
    out: dict[str, float] = {}
    for k in CUTOFFS:
        h = hits[:, :k]
        dcg = (h * discount[:k]).sum(axis=1)
        ideal = np.cumsum(discount[:k])[np.minimum(n_rel, k).astype(int) - 1]
        if k == 10:
            out["precision@10"] = float(h.sum(axis=1).mean() / k)
            out["hr@10"] = float(h.any(axis=1).mean())
            listed = top[:, :k]
            out["coverage@10"] = float(len(np.unique(listed[listed >= 0])) / n_items)
        out[f"recall@{k}"] = float((h.sum(axis=1) / n_rel).mean())
        out[f"ndcg@{k}"] = float((dcg / ideal).mean())
    return out


def buy_again_recall(top: np.ndarray, rebuys: list[np.ndarray]) -> float:
    """Share of each user's test re-purchases found in their top-10 buy-again list (mean)."""
    if not rebuys:
        return 0.0
    found = [np.isin(r, top[row, :10]).mean() for row, r in enumerate(rebuys)]
    return float(np.mean(found))


def ndcg_per_user(top: np.ndarray, relevant: list[np.ndarray], k: int = 10) -> np.ndarray:
    """NDCG@k of each user (the mean is ``ranking_metrics``' figure): paired comparisons
    of two models need the per-user values."""
    n = len(relevant)
    if n == 0:
        return np.zeros(0, dtype=np.float64)
    hits = _hits(top[:, :k], relevant)
    discount = 1.0 / np.log2(np.arange(2, hits.shape[1] + 2))
    n_rel = np.array([len(r) for r in relevant], dtype=np.int64)
    ideal = np.concatenate([[1.0], np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))])
    out: np.ndarray = (hits * discount).sum(axis=1) / ideal[np.minimum(n_rel, k)]
    return out


def _hits(top: np.ndarray, relevant: list[np.ndarray]) -> np.ndarray:
    """(users, depth) bool: whether each listed code is among its user's relevant ones. One
    sorted lookup over every (user, code) pair, not a loop per user."""
    n = len(relevant)
    sizes = np.fromiter((len(r) for r in relevant), dtype=np.int64, count=n)
    rel = np.concatenate(relevant).astype(np.int64) if sizes.sum() else np.zeros(0, np.int64)
    width = int(max(top.max(initial=0), rel.max(initial=0))) + 1
    rel_keys = np.repeat(np.arange(n, dtype=np.int64), sizes) * width + rel
    top_keys = np.arange(n, dtype=np.int64)[:, None] * width + top
    hits: np.ndarray = np.isin(top_keys, rel_keys) & (top >= 0)
    return hits
