"""The evaluate command's table: the job's model choice on the validation split, then every
model on test (EVALUATION.md), the choice marked as served, with figures per user group."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd

from profile_engine.compute import ranker
from profile_engine.evaluation import compared_models, run
from profile_engine.evaluation.split import temporal_split, validation_split
from profile_engine.tuning.choose import choose
from profile_engine.tuning.trials import RANKER


def evaluate(
    interactions: pd.DataFrame,
    params: ranker.RankerParams | None = None,
    baselines: bool = True,
    tune_baselines: bool = True,
    client: Any = None,
    categories: np.ndarray | None = None,
    budget_s: float = 120.0,
) -> run.Result:
    """EVALUATION.md on ``interactions`` (uid, pcode, ts, etype). The job's model choice
    (``profile_engine.tuning``, from ``params`` within ``budget_s``) picks what would be
    served; then, on test: the tuned ranker ("engine"), the ranker at ``params``, the
    baselines the job can serve and, with ``baselines``, item-item cosine and EASE, each
    tuned on validation. ``categories``: category code per catalogue product. With a Dask
    ``client`` the tuning trials and the engine's ranker run on the cluster."""
    params = params or ranker.RankerParams()
    test = temporal_split(interactions)
    n_codes = int(interactions["pcode"].max()) + 1 if len(interactions) else 1
    cats = categories if categories is not None else np.zeros(n_codes, dtype=np.int32)
    result = run.Result(served=run.ENGINE)
    result.split = {
        "interactions": len(interactions),
        "train_users": test.n_users,
        "train_items": test.n_items,
        "evaluated_users": len(test.eval_users),
        "rebuy_users": len(test.rebuy_users),
    }
    choice = choose(interactions, cats, params, budget_s, client)
    result.choice = asdict(choice.record())
    result.served = run.ENGINE if choice.served == RANKER else choice.served
    test_cats = cats[test.items]
    candidates: list[compared_models.Model] = [
        compared_models.baseline(name, test_cats) for name in compared_models.BASELINES
    ]
    if baselines:
        knn, lam = 10.0, 250.0
        if tune_baselines and len(test.eval_users):
            val = validation_split(interactions)
            knn, _ = run.tune(lambda v: compared_models.ItemCosine(int(v)), [10, 20, 50, 100], val)
            lam, _ = run.tune(lambda v: compared_models.Ease(v), [100.0, 250.0, 500.0, 1000.0], val)
        result.tuned = {"item_cosine": f"k={int(knn)}", "ease": f"lambda={lam:g}"}
        if test.n_items > compared_models.MAX_DENSE_ITEMS:
            most = compared_models.MAX_DENSE_ITEMS
            result.tuned["ease"] += f", the {most:,} most popular items"
        candidates += [compared_models.ItemCosine(int(knn)), compared_models.Ease(lam)]
    # The ranker at ``params`` is fitted only when the choice moved off them: otherwise its
    # row is the served ranker's.
    same = choice.params == params
    if not same:
        candidates.append(
            compared_models.EngineRanker(params, name=run.ENGINE_DEFAULTS, categories=test_cats)
        )
    candidates.append(
        compared_models.EngineRanker(choice.params, client, name=run.ENGINE, categories=test_cats)
    )
    result.tuned[run.ENGINE_DEFAULTS] = run.describe(params)
    result.tuned[run.ENGINE] = run.describe(choice.params)
    for model in candidates:
        groups: dict[str, dict[str, float]] = {}
        if len(test.eval_users):
            result.models[model.name] = run.score_model(model, test, groups)
        else:
            result.models[model.name] = {}
        result.groups[model.name] = groups
    if same:  # in the table's order: the defaults' row before the served ranker's
        figures, groups = result.models.pop(run.ENGINE), result.groups.pop(run.ENGINE)
        result.models[run.ENGINE_DEFAULTS] = result.models[run.ENGINE] = figures
        result.groups[run.ENGINE_DEFAULTS] = result.groups[run.ENGINE] = groups
    result.buy_again = {
        "recall@10": run.buy_again_recall(test),
        "users": float(len(test.rebuy_users)),
    }
    return result
