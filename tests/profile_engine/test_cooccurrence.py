"""The compiled Gram matrix against scipy's product: the same float32 values to the bit."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from profile_engine.compute import cooccurrence


def scipy_gram(x: sp.csr_matrix) -> sp.csr_matrix:
    product = sp.csr_matrix(x.T @ x)
    out = sp.csr_matrix(
        (product.data.astype(np.float32), product.indices, product.indptr), shape=product.shape
    )
    out.sort_indices()
    return out


@pytest.mark.parametrize("seed", range(6))
def test_the_gram_is_scipys_product_to_the_bit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(1, 400)), int(rng.integers(1, 90))
    x = sp.random(n, m, density=float(rng.random()), format="csr", random_state=seed)
    x.data = np.sqrt(x.data * 3.7)  # values like the ranker's (square roots of weights)
    want = scipy_gram(x)
    got = cooccurrence.gram(x, dense=False)
    assert got.dtype == np.float32 and got.nnz == want.nnz
    got.sort_indices()  # rows come in the order columns were first touched
    np.testing.assert_array_equal(got.indptr, want.indptr)
    np.testing.assert_array_equal(got.indices, want.indices)
    np.testing.assert_array_equal(got.data, want.data)
    np.testing.assert_array_equal(cooccurrence.gram(x, dense=True), want.toarray())


def test_sums_of_zero_are_not_stored() -> None:
    """An event type weighted 0 stores explicit zeros in X (scipy's product drops their
    pairs; so does this one), and sums that cancel are dropped too."""
    x = sp.csr_matrix((np.array([0.0, 2.0, 1.0, 1.0, 1.0, -1.0]),
                       np.array([0, 1, 1, 2, 1, 2]), np.array([0, 2, 4, 6])), shape=(3, 3))
    got = cooccurrence.gram(x, dense=False)
    assert got.nnz == scipy_gram(x).nnz == 2  # (1, 2) cancels to 0; item 0 scores 0
    assert got.toarray().tolist() == [[0, 0, 0], [0, 6, 0], [0, 0, 2]]
