"""The tuning's trials share fitted weights on a worker (``tuning.fit_memo``): a trial through
the memo scores exactly as one fitted from scratch, whatever the order the settings come in,
and the weights are fitted again as soon as a setting they depend on changes."""

from __future__ import annotations

import gc
import pickle
from dataclasses import replace

import numpy as np
import pytest
import scipy.sparse as sp

from profile_engine import synthetic
from profile_engine.compute import ranker
from profile_engine.compute.ranker import RankerParams
from profile_engine.evaluation import compared_models, metrics
from profile_engine.evaluation.split import validation_split
from profile_engine.tuning import fit_memo, trials
from tests.profile_engine.test_model_choice import _categories, _interactions


@pytest.fixture(scope="module")
def split_and_categories():  # type: ignore[no-untyped-def]
    shop = synthetic.generate(users=1200, products=150, days=30, seed=5)
    split = validation_split(_interactions(shop))
    assert split is not None and len(split.eval_users)
    return split, _categories(shop)


def _dense(weights: np.ndarray | sp.spmatrix) -> np.ndarray:
    return np.asarray(weights.toarray() if sp.issparse(weights) else weights)


def _fresh_ndcg(split, params: RankerParams, cats: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    model = compared_models.EngineRanker(params, name="ranker", categories=cats[split.items])
    model.fit(split.train, split.n_users, split.n_items)
    return metrics.ndcg_per_user(model.recommend(split.eval_users, 10), split.relevant, 10)


@pytest.mark.parametrize("family", ["ease", "knn"])
def test_a_trial_through_the_memo_scores_as_a_fresh_fit(split_and_categories, family) -> None:  # type: ignore[no-untyped-def]
    split, cats = split_and_categories
    base = RankerParams(family=family, max_items=200)
    # Each step changes one setting from the step before: scoring-only ones (weights kept)
    # and ones the weights depend on (fitted again).
    sequence = [
        base,
        replace(base, popularity_weight=0.0),
        replace(base, category_weight=1.0, query_half_life_days=7.0),
        replace(base, view_weight=1.0),
        replace(base, cart_weight=0.2),
        replace(base, popularity_half_life_days=30.0),
        replace(base, gram_half_life_days=30.0),
        replace(base, lam=50.0) if family == "ease" else replace(base, knn_neighbours=5),
        replace(base, lam=50.0, popularity_weight=0.4) if family == "ease"
        else replace(base, knn_neighbours=5, knn_shrink=0.0),
    ]
    select = np.ones(len(split.eval_users), dtype=bool)
    fit_memo.clear()
    for params in sequence:
        outcome = trials.run(split, trials.Candidate.ranker(params), cats, select)
        expected = _fresh_ndcg(split, params, cats)
        np.testing.assert_array_equal(outcome.per_user, expected.astype(np.float32))
        shared = fit_memo.engine_ranker(split, params, cats[split.items], "ranker")._model
        fresh = ranker.fit_frame(compared_models.train_items(split.train), split.n_items,
                                 int(split.train["ts"].max()), params, cats[split.items])
        assert _dense(shared.weights).tobytes() == _dense(fresh.weights).tobytes(), params
        np.testing.assert_array_equal(shared.prior, fresh.prior)
        np.testing.assert_array_equal(shared.category_prior, fresh.category_prior)
    fit_memo.clear()


def test_weights_are_shared_only_while_their_settings_hold(split_and_categories) -> None:  # type: ignore[no-untyped-def]
    split, cats = split_and_categories
    c = cats[split.items]
    base = RankerParams(family="ease", max_items=200)
    fit_memo.clear()
    first = fit_memo.engine_ranker(split, base, c, "ranker")._model.weights
    same = fit_memo.engine_ranker(split, replace(base, popularity_weight=0.0), c, "r")._model
    assert same.weights is first and same.params.popularity_weight == 0.0
    refit = fit_memo.engine_ranker(split, replace(base, lam=999.0), c, "ranker")._model.weights
    assert refit is not first and not np.array_equal(refit, first)
    # Another split (even an equal one) never gets this one's weights.
    other = replace(split)
    assert fit_memo.engine_ranker(other, replace(base, lam=999.0), c, "r")._model.weights \
        is not refit
    fit_memo.clear()
    assert fit_memo._kept is None


def test_what_was_kept_goes_with_its_split(split_and_categories) -> None:  # type: ignore[no-untyped-def]
    split, cats = split_and_categories
    copy = replace(split)
    fit_memo.engine_ranker(copy, RankerParams(family="knn"), cats[copy.items], "ranker")
    assert fit_memo._kept is not None
    del copy
    gc.collect()
    assert fit_memo._kept is None


def test_a_search_shares_across_a_split_read_back_from_disk(split_and_categories) -> None:  # type: ignore[no-untyped-def]
    """A worker short of memory spills the scattered split and reads it back as a new object
    (pickled, as Dask does): the trials of the same search still share the weights."""
    split, cats = split_and_categories
    base = RankerParams(family="knn")
    fit_memo.clear()
    first = fit_memo.engine_ranker(split, base, cats[split.items], "r", "search-1")
    spilled = pickle.loads(pickle.dumps(split))
    again = fit_memo.engine_ranker(spilled, replace(base, popularity_weight=0.0),
                                   cats[split.items], "r", "search-1")
    assert again._model.weights is first._model.weights
    del spilled
    gc.collect()
    assert fit_memo._kept is not None  # a named search's memo goes at clear(), not with a copy
    other = fit_memo.engine_ranker(split, base, cats[split.items], "r", "search-2")
    assert other._model.weights is not first._model.weights
    fit_memo.clear()


def test_earlier_weights_are_kept_within_the_budget(split_and_categories, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A search's best so far was often fitted a trial or two before the last: small
    weights stay (the budget), large ones go before the next are fitted."""
    split, cats = split_and_categories
    c = cats[split.items]
    a, b = RankerParams(family="knn"), RankerParams(family="knn", knn_neighbours=5)
    fit_memo.clear()
    first = fit_memo.engine_ranker(split, a, c, "r", "s")._model.weights
    fit_memo.engine_ranker(split, b, c, "r", "s")
    assert fit_memo.engine_ranker(split, a, c, "r", "s")._model.weights is first
    assert len(fit_memo._kept.weights) == 2  # type: ignore[union-attr]
    monkeypatch.setattr(fit_memo, "EXTRA_BYTES", 0)  # only the last used fits
    fit_memo.engine_ranker(split, b, c, "r", "s")
    assert fit_memo.engine_ranker(split, a, c, "r", "s")._model.weights is not first
    assert len(fit_memo._kept.weights) == 1  # type: ignore[union-attr]
    fit_memo.clear()


def test_weights_fitted_on_one_worker_serve_another(split_and_categories) -> None:  # type: ignore[no-untyped-def]
    """``fitted_weights`` on the worker that has them, ``install`` where they are sent (a
    pickled copy, as Dask sends it): the trial there fits nothing and scores the same."""
    split, cats = split_and_categories
    select = np.ones(len(split.eval_users), dtype=bool)
    params = RankerParams(family="knn", popularity_weight=0.0)
    fit_memo.clear()
    fit_memo.hold("s", split, cats, select)
    sent = pickle.loads(pickle.dumps(fit_memo.fitted_weights("s", params)))
    fit_memo.clear()
    fit_memo.hold("s", split, cats, select)
    got = trials.run_held("s", trials.Candidate.ranker(params), trials.ALL, sent)
    used = fit_memo.engine_ranker(split, params, cats[split.items], "r", "s")._model.weights
    assert used is sent
    np.testing.assert_array_equal(got.per_user, _fresh_ndcg(split, params, cats).astype(np.float32))
    fit_memo.clear()


def test_knn_trials_that_differ_in_pruning_only_share_the_gram(  # type: ignore[no-untyped-def]
    split_and_categories, monkeypatch
) -> None:
    """The neighbour and shrinkage rounds prune the last KNN fit's Gram again (the same
    weights as a fresh fit); any setting the Gram depends on builds a new one, and a Gram
    over GRAM_BYTES is not kept."""
    split, cats = split_and_categories
    c = cats[split.items]
    built: list[RankerParams] = []
    real = ranker.local_gram

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        built.append(args[-1])
        return real(*args, **kwargs)

    base = RankerParams(family="knn")
    steps = [
        (base, True),
        (replace(base, knn_neighbours=5), False),
        (replace(base, knn_neighbours=5, knn_shrink=0.0), False),
        (replace(base, view_weight=1.0), True),
        (replace(base, view_weight=1.0, knn_neighbours=50), False),
        (replace(base, knn_neighbours=50), True),
    ]
    items = compared_models.train_items(split.train)
    as_of = int(split.train["ts"].max())
    fit_memo.clear()
    for params, builds in steps:
        monkeypatch.setattr(ranker, "local_gram", counted)
        before = len(built)
        shared = fit_memo.engine_ranker(split, params, c, "ranker")._model
        assert (len(built) > before) == builds, params
        monkeypatch.setattr(ranker, "local_gram", real)
        fresh = ranker.fit_frame(items, split.n_items, as_of, params, c)
        assert _dense(shared.weights).tobytes() == _dense(fresh.weights).tobytes(), params
    monkeypatch.setattr(fit_memo, "GRAM_BYTES", 0)
    monkeypatch.setattr(ranker, "local_gram", counted)
    fit_memo.clear()
    before = len(built)
    fit_memo.engine_ranker(split, base, c, "ranker")
    fit_memo.engine_ranker(split, replace(base, knn_neighbours=5), c, "ranker")
    assert len(built) == before + 2
    fit_memo.clear()
