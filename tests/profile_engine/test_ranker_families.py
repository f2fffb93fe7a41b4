"""The ranker's sparse family (item-KNN with shrinkage), its category prior, and the model
choice as the contract stores it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from generation import Manifest, ModelChoice, ModelTrial, payloads
from profile_engine.compute import codes, item_knn, priors, ranker

DAY = codes.DAY_MS


def _items(rows: list[tuple[int, int, int]], as_of: int) -> pd.DataFrame:
    """(uid, pcode, etype) rows, all a day old, as ``profiles.user_items`` gives them."""
    return pd.DataFrame(
        {
            "uid": [r[0] for r in rows],
            "pcode": [r[1] for r in rows],
            "last_ts": as_of - DAY,
            "etype": [r[2] for r in rows],
            "score": 1.0,
            "n": 1,
            "bought": [r[2] == codes.PURCHASE for r in rows],
        }
    ).astype({"uid": "int64", "pcode": "int32", "etype": "int8", "n": "int32"})


def test_knn_keeps_the_best_neighbours_and_shrinks_rare_pairs() -> None:
    gram = sp.csr_matrix(
        np.array(
            [
                [10.0, 9.0, 1.0, 4.0],
                [9.0, 10.0, 0.0, 0.0],
                [1.0, 0.0, 1.0, 0.0],
                [4.0, 0.0, 0.0, 10.0],
            ]
        )
    )
    plain = item_knn.weights(gram, neighbours=2, shrink=0.0).toarray()
    assert np.count_nonzero(plain, axis=1).max() <= 2 and not np.diag(plain).any()
    # Row 0: cosine 0.9 with item 1, 1/sqrt(10) ~ 0.32 with item 2, 0.4 with item 3.
    assert plain[0, 1] == np.float32(0.9) and plain[0, 3] == np.float32(0.4) and plain[0, 2] == 0
    shrunk = item_knn.weights(gram, neighbours=3, shrink=10.0).toarray()
    full = item_knn.weights(gram, neighbours=3, shrink=0.0).toarray()
    # One co-occurrence (0, 2) loses more to shrinkage than nine (0, 1).
    assert shrunk[0, 2] / full[0, 2] < shrunk[0, 1] / full[0, 1]


def test_knn_models_every_product_with_an_interaction() -> None:
    as_of = 100 * DAY
    p, v = codes.PURCHASE, codes.VIEW
    rows = [(u, u % 50, p) for u in range(200)] + [(u, (u + 1) % 50, v) for u in range(200)]
    items = _items(rows, as_of)
    dense = ranker.fit_frame(items, 60, as_of, ranker.RankerParams(max_items=10))
    knn = ranker.fit_frame(items, 60, as_of, ranker.RankerParams(family="knn", max_items=10))
    assert len(dense.columns) == 10 and isinstance(dense.weights, np.ndarray)
    assert len(knn.columns) == 50 and sp.issparse(knn.weights)  # every product with users
    out = ranker.score(knn, items[items["uid"] == 3], as_of, 5, exclude=items[items["uid"] == 3])
    assert len(out) == 5 and not set(out["pcode"]) & {3, 4}
    # Views train the model with their own weight: at 0 a view says nothing.
    mute = ranker.fit_frame(items, 60, as_of, ranker.RankerParams(family="knn", view_weight=0.0))
    assert mute.weights.nnz < knn.weights.nnz


def test_the_category_prior_favours_the_users_categories() -> None:
    x = sp.csr_matrix(np.array([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 2.0]]))
    category = np.array([0, 0, 1, 1])
    prior = priors.within_category(np.array([4.0, 2.0, 1.0, 3.0]), category)
    assert prior.tolist() == [1.0, 0.5, 1.0 / 3.0, 1.0]
    shares = priors.category_shares(x, category)
    assert shares.tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert shares.dtype == np.float32  # scored in float32: no float64 scratch
    # What the ranker adds to a score: the user's share of the item's category x its prior.
    scores = shares[:, category] * prior.astype(np.float32)
    assert scores[0].tolist() == [1.0, 0.5, 0.0, 0.0]
    np.testing.assert_array_equal(scores[1], np.float32([0.0, 0.0, 1.0 / 3.0, 1.0]))
    split = priors.category_shares(sp.csr_matrix(np.array([[3.0, 0.0, 1.0, 0.0]])), category)
    assert split.tolist() == [[0.75, 0.25]]


def test_the_model_choice_round_trips_through_the_manifest() -> None:
    choice = ModelChoice(
        served="category_popular",
        reason="category_popular: no ranker beat it by more than a standard error",
        settings={},
        trials=(ModelTrial("ranker", {"family": "knn", "neighbours": "20"}, 0.21, 1.5),),
        budget_s=60.0,
        used_s=12.25,
    )
    m = Manifest("20260101T000000Z-aaaaaa", "2026-01-01T00:00:00Z", model=choice)
    assert payloads.decode_manifest(payloads.encode_manifest(m)).model == choice
    older = Manifest("20260101T000000Z-aaaaaa", "2026-01-01T00:00:00Z")
    assert payloads.decode_manifest(payloads.encode_manifest(older)).model is None


def by_sort(gram: sp.spmatrix, neighbours: int, shrink: float) -> sp.csr_matrix:
    """What item_knn.weights keeps, by a sort of every off-diagonal positive similarity."""
    g = sp.coo_matrix(gram)
    norms = np.sqrt(np.maximum(sp.csr_matrix(gram).diagonal().astype(np.float64), 0.0))
    sim = g.data.astype(np.float32) / (norms[g.row] * norms[g.col] + shrink + 1e-12)
    keep = (g.row != g.col) & (sim > 0)
    r, c, v = g.row[keep], g.col[keep], sim[keep]
    order = np.lexsort((c, -v, r))  # by row, best first, ties to the lower column
    r, c, v = r[order], c[order], v[order]
    rank = np.arange(len(r)) - np.searchsorted(r, r)
    kept = rank < neighbours
    return sp.csr_matrix((v[kept].astype(np.float32), (r[kept], c[kept])), shape=g.shape)


def test_pruning_keeps_what_a_full_sort_keeps() -> None:
    """Integer co-occurrence counts tie often: the lower column is kept, as a sort of every
    pair by (row, similarity, column) would keep it; the same float32 values."""
    rng = np.random.default_rng(3)
    for density in (0.05, 0.3, 0.9):
        x = sp.csr_matrix((rng.random((300, 80)) < density) * rng.integers(1, 3, (300, 80)))
        gram = (x.T @ x).astype(np.float64)
        for neighbours, shrink in ((1, 0.0), (7, 0.0), (7, 10.0), (90, 0.0)):
            got = item_knn.weights(gram, neighbours, shrink)
            want = by_sort(gram, neighbours, shrink)
            assert (got != want).nnz == 0, (density, neighbours, shrink)
            assert got.has_sorted_indices and np.diff(got.indptr).max() <= neighbours
    assert item_knn.weights(gram, 0, 0.0).nnz == 0


def test_pruning_does_not_need_sorted_rows() -> None:
    """A sparse product's rows come with their columns in any order (local_gram passes them
    on unsorted): the neighbours, ties included, are those of the sorted Gram."""
    rng = np.random.default_rng(5)
    x = sp.csr_matrix((rng.random((200, 60)) < 0.3) * rng.integers(1, 3, (200, 60)))
    # Item 0 co-occurs once with every other item, all alike: its row is one long tie.
    tie = sp.csr_matrix(np.vstack([np.ones((1, 60)), np.eye(60)]))
    for gram in ((x.T @ x).toarray(), (tie.T @ tie).toarray()):
        ordered = sp.csr_matrix(gram.astype(np.float32))
        shuffled = ordered.copy()
        for i in range(ordered.shape[0]):  # reverse each row's entries
            lo, hi = shuffled.indptr[i], shuffled.indptr[i + 1]
            shuffled.indices[lo:hi] = shuffled.indices[lo:hi][::-1].copy()
            shuffled.data[lo:hi] = shuffled.data[lo:hi][::-1].copy()
        shuffled.has_sorted_indices = False
        for neighbours, shrink in ((1, 0.0), (5, 0.0), (5, 10.0), (70, 0.0)):
            want = item_knn.weights(ordered, neighbours, shrink)
            got = item_knn.weights(shuffled, neighbours, shrink)
            assert (want != got).nnz == 0, (neighbours, shrink)
    # The tie's row keeps its lowest columns, whichever way the row was stored.
    assert list(item_knn.weights(shuffled, 5, 0.0)[0].indices) == [1, 2, 3, 4, 5]


def test_local_gram_is_the_weighted_cooccurrence() -> None:
    as_of = 100 * DAY
    p, v = codes.PURCHASE, codes.VIEW
    rows = [(u, (u * 3 + j) % 25, p if j % 2 else v) for u in range(120) for j in range(4)]
    items = _items(rows, as_of)
    cols = np.arange(25, dtype=np.int32)
    for family in ("knn", "ease"):
        params = ranker.RankerParams(family=family)
        gram = ranker.local_gram(items, cols, 25, as_of, params)
        dense = gram.toarray() if sp.issparse(gram) else gram
        w = np.sqrt(ranker._weights(items, as_of, params.gram_half_life_days, params))
        x = np.zeros((120, 25))
        x[items["uid"].to_numpy(), items["pcode"].to_numpy()] = w
        np.testing.assert_allclose(dense, (x.T @ x).astype(np.float32), rtol=1e-6)
        assert dense.dtype == np.float32


def test_lists_without_reasons_are_the_same_lists() -> None:
    as_of = 100 * DAY
    p, v = codes.PURCHASE, codes.VIEW
    rows = [(u, u % 40, p) for u in range(300)] + [(u, (u * 7) % 40, v) for u in range(300)]
    items = _items(rows, as_of)
    for params in (ranker.RankerParams(max_items=30, category_weight=1.0),
                   ranker.RankerParams(family="knn", category_weight=1.0)):
        model = ranker.fit_frame(items, 40, as_of, params, np.arange(40) % 4)
        full = ranker.score(model, items, as_of, 5, exclude=items)
        bare = ranker.score(model, items, as_of, 5, exclude=items, reasons=False)
        pd.testing.assert_frame_equal(full[["uid", "pcode", "score"]],
                                      bare[["uid", "pcode", "score"]])
        assert (full["source"] >= 0).any() and (bare["source"] == -1).all()
        assert (bare["source_etype"] == -1).all()
