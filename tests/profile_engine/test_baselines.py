"""The evaluation's baselines rank as their definition says, whatever shortcut they take:
each user's list equals a full stable sort of the baseline's scores with the user's train
items last (ties to the lower item code)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from profile_engine.evaluation import compared_models


def _train(seed: int, users: int, items: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    # Skewed popularity with many equal counts; one user has seen every item but 3, one
    # every item, one all of the popular head but two, one nothing.
    pairs = {(int(u), int(i)) for u, i in zip(
        rng.integers(0, users - 4, 3_000), np.minimum(rng.geometric(0.05, 3_000) - 1, items - 1),
        strict=True)}
    pairs |= {(users - 4, i) for i in range(3, items)}
    pairs |= {(users - 3, i) for i in range(items)}
    pairs |= {(users - 2, i) for i in range(60) if i not in (5, 17)}
    u, i = (np.array(x) for x in zip(*sorted(pairs), strict=True))
    return pd.DataFrame({"u": u, "i": i, "ts": np.arange(len(u)), "etype": 2})


def _reference(scores: np.ndarray, seen: sp.csr_matrix, k: int) -> np.ndarray:
    ranked = scores.astype(np.float64).copy()
    ranked[seen.toarray() > 0] = -np.inf
    return np.argsort(-ranked, axis=1, kind="stable")[:, :k]


def test_most_popular_ranks_every_unseen_item_by_popularity() -> None:
    users, items = 60, 120
    train = _train(1, users, items)
    model = compared_models.MostPopular()
    model.fit(train, users, items)
    x = compared_models.user_item(train, users, items)
    pop = np.asarray(x.sum(axis=0)).ravel()
    everyone = np.arange(users)
    for k in (1, 10, 50):
        for who in (everyone, everyone[::-1][:7], everyone[users - 4 :], everyone[-2:]):
            want = _reference(np.tile(pop, (len(who), 1)), x[who], k)
            np.testing.assert_array_equal(model.recommend(who, k), want)


def test_category_popular_ranks_as_its_scores_say() -> None:
    users, items = 60, 120
    train = _train(2, users, items)
    categories = np.arange(items, dtype=np.int32) % 7
    model = compared_models.CategoryPopular(categories)
    model.fit(train, users, items)
    x = compared_models.user_item(train, users, items)
    who = np.arange(users)
    want = _reference(model._scores(who), x, 10)
    np.testing.assert_array_equal(model.recommend(who, 10), want)
