"""The compiled scoring kernel against the numpy passes it replaced, to the bit: products
of both weight layouts, the scale to each user's best, both priors, exclusions, ties."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from profile_engine.compute import priors, score_kernel


def numpy_passes(
    x: sp.csr_matrix, weights: np.ndarray | sp.csr_matrix, popularity: np.ndarray,
    category: np.ndarray, category_prior: np.ndarray, weight: float, blocked: np.ndarray,
    banned: sp.csr_matrix, k: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What ``ranker.score`` computed per batch before the kernel (numpy and scipy)."""
    product = x @ weights
    s = np.asarray(product.toarray() if sp.issparse(product) else product, dtype=np.float32)
    s /= np.abs(s).max(axis=1, keepdims=True) + 1e-9
    personal = s.copy()
    s += popularity
    if weight > 0:
        shares = np.take(priors.category_shares(x, category), category, axis=1)
        shares *= (weight * category_prior.astype(np.float64)).astype(np.float32)
        s += shares
    s[:, blocked] = -np.inf
    rows, cols = banned.nonzero()
    s[rows, cols] = -np.inf
    top = np.argsort(-s, axis=1, kind="stable")[:, :k]  # best first, ties to the lower column
    return top, np.take_along_axis(s, top, axis=1), np.take_along_axis(personal, top, axis=1)


def kernel(
    x: sp.csr_matrix, weights: np.ndarray | sp.csr_matrix, popularity: np.ndarray,
    category: np.ndarray, category_prior: np.ndarray, weight: float, blocked: np.ndarray,
    banned: sp.csr_matrix, k: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    share = priors.category_shares(x, category) if weight > 0 else None
    cp = (weight * category_prior.astype(np.float64)).astype(np.float32)
    scorer = score_kernel.scorer(weights, popularity, category, cp, blocked)
    return score_kernel.best(scorer, x, share, banned, k)


def case(seed: int, dense: bool, ties: bool) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    n, m = 300, 120
    x = sp.random(n, m, density=0.05, format="csr", dtype=np.float32, random_state=seed)
    x.data = rng.choice([0.2, 0.6, 1.0], size=x.nnz).astype(np.float32) if ties else x.data
    if dense:
        weights = rng.normal(size=(m, m)).astype(np.float32)  # EASE's have negative ones
        if ties:
            weights = np.round(weights * 2).astype(np.float32) / 2
        np.fill_diagonal(weights, 0.0)
    else:
        weights = sp.random(m, m, density=0.1, format="csr", dtype=np.float32,
                            random_state=seed + 1)
        if ties:  # equal similarities: equal scores that only the column order separates
            weights.data = np.round(weights.data * 4).astype(np.float32) / 4
    category = rng.integers(0, 7, m).astype(np.int32)
    banned = sp.random(n, m, density=0.03, format="csr", dtype=bool, random_state=seed + 2)
    return {
        "x": x, "weights": weights,
        "popularity": (0.3 * (np.round(rng.random(m), 1) if ties else rng.random(m))).astype(
            np.float32
        ),
        "category": category, "category_prior": rng.random(m).astype(np.float32),
        "blocked": rng.random(m) < 0.1, "banned": banned,
    }


@pytest.mark.parametrize("dense", [False, True])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("weight", [0.0, 3.0])
@pytest.mark.parametrize("k", [1, 10, 120])
def test_the_kernel_scores_as_the_numpy_passes_did(
    dense: bool, ties: bool, weight: float, k: int
) -> None:
    inputs = case(7, dense, ties)
    want = numpy_passes(**inputs, weight=weight, k=k)  # type: ignore[arg-type]
    got = kernel(**inputs, weight=weight, k=k)  # type: ignore[arg-type]
    finite = np.isfinite(want[1])
    np.testing.assert_array_equal(got[1], want[1])  # scores to the bit, -inf included
    np.testing.assert_array_equal(got[0][finite], want[0][finite])  # the same items, in order
    np.testing.assert_array_equal(got[2][finite], want[2][finite])  # and their own part
    if ties and k > 1:  # the case must hold ties within the lists for the order check to mean much
        assert ((want[1][:, 1:] == want[1][:, :-1]) & finite[:, 1:]).any()


def test_equal_scores_go_to_the_lower_column_and_exclusions_never_appear() -> None:
    x = sp.csr_matrix(np.array([[1.0, 0.0, 0.0, 0.0, 0.0]], np.float32))
    weights = sp.csr_matrix(np.array([[0, 1, 1, 1, 1]] + [[0] * 5] * 4, np.float32))
    banned = sp.csr_matrix(np.array([[True, False, True, False, False]]))  # 0: bought
    top, best, _ = kernel(
        x, weights, np.zeros(5, np.float32), np.zeros(5, np.int32), np.zeros(5, np.float32),
        0.0, np.array([False, False, False, False, True]), banned, 4,
    )
    assert top[0, :2].tolist() == [1, 3]  # 0 and 2 excluded for the user, 4 for everyone
    assert np.isinf(best[0, 2:]).all()  # what is left: no score (``ranker.score`` drops it)


def test_a_nan_weight_counts_as_no_score() -> None:
    x = sp.csr_matrix(np.array([[1.0, 0.0, 0.0]], np.float32))
    weights = np.array([[0, np.nan, 0.5], [0, 0, 0], [0, 0, 0]], np.float32)
    top, best, _ = kernel(
        x, weights, np.zeros(3, np.float32), np.zeros(3, np.int32), np.zeros(3, np.float32),
        0.0, np.zeros(3, bool), sp.csr_matrix((1, 3), dtype=bool), 3,
    )
    assert np.isfinite(best[0, 0]) is np.True_ and not np.isnan(best).any()
