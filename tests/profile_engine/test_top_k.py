"""The per-row top-k every list and evaluation trial takes: the same columns as a full
stable sort (ties to the lower column) whichever path a row takes."""

from __future__ import annotations

import numpy as np
import pytest

from profile_engine.compute import top_k


def _sorted(scores: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [1, 10, 20, 50])
def test_best_equals_a_full_stable_sort(dtype: type, k: int) -> None:
    rng = np.random.default_rng(k)
    rows, m = 300, 1_037  # columns not a multiple of the group width: a tail
    continuous = rng.random((rows, m)) ** 3
    ties = rng.integers(0, 40, (rows, m)).astype(float)  # popularity counts: many ties
    sparse = np.where(rng.random((rows, m)) < 0.01, rng.random((rows, m)), 0.0)
    for scores in (continuous, ties, sparse):
        s = scores.astype(dtype)
        s[rng.random(s.shape) < 0.05] = -np.inf
        s[3] = -np.inf  # nothing rankable
        s[4, : k + 2] = -np.inf
        s[4, k + 2 :] = -np.inf  # an all -inf row written in two parts
        s[5] = 1.0  # one long tie
        s[6, :] = -np.inf
        s[6, 500 : 500 + k // 2] = 2.0  # fewer finite scores than k
        np.testing.assert_array_equal(top_k.best(s, k), _sorted(s, k))


@pytest.mark.parametrize("k", [20, 50, 100])
def test_a_large_k_takes_the_threshold_path(monkeypatch: pytest.MonkeyPatch, k: int) -> None:
    """Groups scale with k (a KNN fit keeps up to 100 neighbours of 5,000 items): rows of
    distinct scores are not left to the partial sort of every cell."""
    rng = np.random.default_rng(k)
    s = rng.random((200, 5_000))

    def refused(*args: object) -> None:
        raise AssertionError("ranked by the partial sort")

    monkeypatch.setattr(top_k, "_exact", refused)
    np.testing.assert_array_equal(top_k.best(s, k), _sorted(s, k))


def test_small_and_empty_blocks() -> None:
    rng = np.random.default_rng(0)
    for rows, m, k in ((0, 50, 10), (5, 0, 10), (7, 5, 10), (7, 30, 10), (1, 1, 1)):
        s = rng.random((rows, m))
        got = top_k.best(s, k)
        assert got.shape == (rows, min(k, m))
        np.testing.assert_array_equal(got, _sorted(s, k))


def test_nan_scores_are_refused_not_ranked() -> None:
    s = np.random.default_rng(1).random((4, 2_000))
    s[2, :] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        top_k.best(s, 10)


def test_positions_are_nonzero_in_its_order() -> None:
    rng = np.random.default_rng(2)
    for rows, m, share in ((0, 7, 0.5), (6, 0, 0.5), (40, 333, 0.0), (40, 333, 0.01),
                           (40, 333, 0.5), (3, 5, 1.0)):
        mask = rng.random((rows, m)) < share
        got, want = top_k.positions(mask), np.nonzero(mask)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w)
