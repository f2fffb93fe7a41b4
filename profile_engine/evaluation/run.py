"""One evaluation: split once, tune what is tunable on validation, fit and score every model."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from profile_engine.compute import ranker
from profile_engine.evaluation import metrics, models
from profile_engine.evaluation.split import Split, temporal_split, validation_split

DEPTH = 20  # longest cutoff of the table
# The cosine and EASE baselines build a dense item x item matrix (8 bytes a cell): beyond
# this many train items they are left out of the table rather than exhaust memory.
MAX_DENSE_ITEMS = 12_000


@dataclass
class Result:
    """The table: metrics per model, plus the split's sizes and the buy-again figure."""

    served: str
    models: dict[str, dict[str, float]] = field(default_factory=dict)
    tuned: dict[str, str] = field(default_factory=dict)
    split: dict[str, int] = field(default_factory=dict)
    buy_again: dict[str, float] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        return {
            "served": self.served,
            "models": self.models,
            "tuned": self.tuned,
            "split": self.split,
            "buy_again": self.buy_again,
        }


def score_model(model: models.Model, split: Split) -> dict[str, float]:
    started = time.perf_counter()
    model.fit(split.train, split.n_users, split.n_items)
    fitted = time.perf_counter()
    top = model.recommend(split.eval_users, DEPTH)
    done = time.perf_counter()
    out = metrics.ranking_metrics(top, split.relevant, split.n_items)
    out["fit_s"] = round(fitted - started, 3)
    out["recommend_s"] = round(done - fitted, 3)
    return out


def tune(
    make: Callable[[float], models.Model], values: Sequence[float], split: Split
) -> tuple[float, float]:
    """The value with the best validation NDCG@10 (first on ties), and that NDCG."""
    best = (values[0], -1.0)
    for v in values:
        ndcg = score_model(make(v), split).get("ndcg@10", 0.0)
        if ndcg > best[1]:
            best = (v, ndcg)
    return best


def buy_again_recall(split: Split) -> float:
    items = models.train_items(split.train)
    as_of = int(split.train["ts"].max()) if len(split.train) else 0
    lists = ranker.buy_again(items, as_of, 10)
    top = models.as_matrix(lists, split.rebuy_users, 10)
    return metrics.buy_again_recall(top, split.rebuys)


def evaluate(
    interactions: pd.DataFrame,
    params: ranker.RankerParams | None = None,
    baselines: bool = True,
    tune_baselines: bool = True,
    client: Any = None,
) -> Result:
    """EVALUATION.md on ``interactions`` (uid, pcode, ts, etype): the engine's ranker and,
    with ``baselines``, most popular, item-item cosine and EASE, each tuned on validation.
    With a Dask ``client`` the engine's ranker is fitted and scored on the cluster."""
    test = temporal_split(interactions)
    result = Result(served="engine")
    result.split = {
        "interactions": len(interactions),
        "train_users": test.n_users,
        "train_items": test.n_items,
        "evaluated_users": len(test.eval_users),
        "rebuy_users": len(test.rebuy_users),
    }
    candidates: list[models.Model] = []
    if baselines and test.n_items > MAX_DENSE_ITEMS:
        candidates.append(models.MostPopular())
        result.tuned["note"] = (
            f"cosine and EASE skipped: {test.n_items:,} items > {MAX_DENSE_ITEMS:,}"
        )
    elif baselines:
        knn, lam = 10.0, 250.0
        if tune_baselines and len(test.eval_users):
            val = validation_split(interactions)
            knn, _ = tune(lambda v: models.ItemCosine(int(v)), [10, 20, 50, 100], val)
            lam, _ = tune(lambda v: models.Ease(v), [100.0, 250.0, 500.0, 1000.0], val)
        result.tuned = {"item_cosine": f"k={int(knn)}", "ease": f"lambda={lam:g}"}
        candidates += [models.MostPopular(), models.ItemCosine(int(knn)), models.Ease(lam)]
    engine = models.EngineRanker(params or ranker.RankerParams(), client)
    result.tuned["engine"] = _describe(engine.params)
    candidates.append(engine)
    for model in candidates:
        result.models[model.name] = score_model(model, test) if len(test.eval_users) else {}
    result.buy_again = {
        "recall@10": buy_again_recall(test),
        "users": float(len(test.rebuy_users)),
    }
    return result


def _describe(p: ranker.RankerParams) -> str:
    return (
        f"lambda={p.lam:g}, gram half-life {p.gram_half_life_days:g} d, query half-life "
        f"{p.query_half_life_days:g} d, popularity {p.popularity_weight:g} "
        f"(half-life {p.popularity_half_life_days:g} d), max_items {p.max_items}"
    )


def engine_ndcg(
    interactions: pd.DataFrame, params: ranker.RankerParams, client: Any = None
) -> dict[str, float]:
    """The quality gate's figures: the engine's ranker alone on the test split."""
    result = evaluate(interactions, params, baselines=False, client=client)
    out = result.models.get("engine", {})
    return {k: v for k, v in out.items() if np.isfinite(v)}
