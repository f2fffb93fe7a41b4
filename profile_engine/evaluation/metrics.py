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
    hits = np.zeros((n, top.shape[1]), dtype=bool)
    n_rel = np.array([len(r) for r in relevant], dtype=np.float64)
    for row, rel in enumerate(relevant):
        hits[row] = np.isin(top[row], rel)
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
    out = np.zeros(n, dtype=np.float64)
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.cumsum(discount)
    for row, rel in enumerate(relevant):
        if len(rel):
            hits = np.isin(top[row, :k], rel)
            out[row] = (hits * discount[: hits.shape[0]]).sum() / ideal[min(len(rel), k) - 1]
    return out
