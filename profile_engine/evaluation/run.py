"""One evaluation: split once, tune what is tunable on validation, fit and score every model."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import dask.dataframe as dd
import numpy as np
import pandas as pd
from distributed import wait

from profile_engine import ranker_jobs
from profile_engine.compute import codes, profiles, ranker
from profile_engine.evaluation import compared_models, metrics, split
from profile_engine.evaluation.split import Split, temporal_split

DEPTH = 20  # longest cutoff of the table


@dataclass
class Result:
    """The table: metrics per model (overall and per user group), the model choice with its
    tuning trace, the split's sizes and the buy-again figure."""

    served: str
    models: dict[str, dict[str, float]] = field(default_factory=dict)
    tuned: dict[str, str] = field(default_factory=dict)
    split: dict[str, int] = field(default_factory=dict)
    buy_again: dict[str, float] = field(default_factory=dict)
    groups: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    choice: dict[str, Any] = field(default_factory=dict)  # generation.ModelChoice as JSON

    def as_json(self) -> dict[str, object]:
        return {
            "served": self.served,
            "models": self.models,
            "tuned": self.tuned,
            "split": self.split,
            "buy_again": self.buy_again,
            "groups": self.groups,
            "choice": self.choice,
        }


# Users by their number of train interactions: short histories are where models differ most.
GROUPS: tuple[tuple[str, int, float], ...] = (
    ("1-2", 1, 2), ("3-10", 3, 10), (">10", 11, float("inf"))
)
GROUP_METRICS = ("ndcg@10", "recall@20", "hr@10")
# Model names in the table: the job's tuned ranker is "engine" (as before tuning existed).
ENGINE, ENGINE_DEFAULTS = "engine", "engine_defaults"


def score_model(
    model: compared_models.Model,
    split: Split,
    groups: dict[str, dict[str, float]] | None = None,
) -> dict[str, float]:
    """Fit, rank the evaluated users, measure; ``groups`` (when given) gets the figures of
    each user group of ``GROUPS``."""
    started = time.perf_counter()
    model.fit(split.train, split.n_users, split.n_items)
    fitted = time.perf_counter()
    top = model.recommend(split.eval_users, DEPTH)
    done = time.perf_counter()
    out = metrics.ranking_metrics(top, split.relevant, split.n_items)
    out["fit_s"] = round(fitted - started, 3)
    out["recommend_s"] = round(done - fitted, 3)
    if groups is not None:
        seen = np.bincount(split.train["u"].to_numpy(), minlength=split.n_users)
        counts = seen[split.eval_users]
        for name, lo, hi in GROUPS:
            rows = np.flatnonzero((counts >= lo) & (counts <= hi))
            figures = metrics.ranking_metrics(
                top[rows], [split.relevant[r] for r in rows], split.n_items
            )
            groups[name] = {"users": float(len(rows))} | {
                k: figures[k] for k in GROUP_METRICS if k in figures
            }
    return out


def tune(
    make: Callable[[float], compared_models.Model], values: Sequence[float], split: Split
) -> tuple[float, float]:
    """The value with the best validation NDCG@10 (first on ties), and that NDCG."""
    best = (values[0], -1.0)
    for v in values:
        ndcg = score_model(make(v), split).get("ndcg@10", 0.0)
        if ndcg > best[1]:
            best = (v, ndcg)
    return best


def buy_again_recall(split: Split) -> float:
    items = compared_models.train_items(split.train)
    as_of = int(split.train["ts"].max()) if len(split.train) else 0
    lists = ranker.buy_again(items, as_of, 10)
    top = compared_models.as_matrix(lists, split.rebuy_users, 10)
    return metrics.buy_again_recall(top, split.rebuys)


def describe(p: ranker.RankerParams) -> str:
    return ", ".join(f"{k} {v}" for k, v in p.describe().items())


def baseline_on_test(
    interactions: pd.DataFrame, name: str, categories: np.ndarray
) -> dict[str, float]:
    """The quality gate's figures when a baseline is served: that baseline on the test split."""
    test = temporal_split(interactions)
    if not len(test.eval_users):
        return {}
    model = compared_models.baseline(name, categories[test.items])
    return {k: v for k, v in score_model(model, test).items() if np.isfinite(v)}


def engine_ndcg(
    interactions: pd.DataFrame, params: ranker.RankerParams, client: Any = None
) -> dict[str, float]:
    """The ranker at ``params`` alone on the test split (what the job's gate computes on
    the cluster, in one process)."""
    test = temporal_split(interactions)
    if not len(test.eval_users):
        return {}
    out = score_model(compared_models.EngineRanker(params, client), test)
    return {k: v for k, v in out.items() if np.isfinite(v)}


# --------------------------------------------------------------------------- on the cluster
# The job's gate on its own user-partitioned rows: the split, the fit, the scoring and the
# per-user metrics run per partition; only order statistics, item sets and per-partition
# sums come to the client, so its memory (and every worker's) does not grow with the input.

HIST_BINS = 1 << 16  # timestamp histogram of the exact quantile's first pass


def _active(rows: pd.DataFrame) -> pd.DataFrame:
    """temporal_split's input filter on one user-partition (all of a user's rows are here)."""
    return split.keep_active(rows[rows["pcode"].to_numpy() >= 0])


def _bins(ts: np.ndarray, lo: int, width: int) -> np.ndarray:
    return np.bincount((ts - lo) // width, minlength=HIST_BINS)[:HIST_BINS]


def _between(ts: np.ndarray, lo: int, hi: int) -> np.ndarray:
    return np.sort(ts[(ts >= lo) & (ts <= hi)])


def exact_quantile(client: Any, ts: list[Any], q: float) -> int | None:
    """``int(np.quantile(all ts, q))`` (linear) over per-partition futures of int64 arrays,
    without gathering them: a histogram finds the bins of the two order statistics, then
    only the values in those bins come here. None when there are no values."""
    sizes = client.gather([client.submit(len, t) for t in ts])
    n = int(sum(sizes))
    if n == 0:
        return None
    filled = [t for t, size in zip(ts, sizes, strict=True) if size]
    lo = int(min(client.gather([client.submit(np.min, t) for t in filled])))
    hi = int(max(client.gather([client.submit(np.max, t) for t in filled])))
    width = max(1, -(-(hi - lo + 1) // HIST_BINS))
    counts = np.sum(client.gather([client.submit(_bins, t, lo, width) for t in ts]), axis=0)
    h = (n - 1) * q
    k = int(np.floor(h))
    ranks = [k, min(k + 1, n - 1)]
    cum = np.cumsum(counts)
    first, last = (int(np.searchsorted(cum, r, side="right")) for r in ranks)
    low, high = lo + first * width, lo + (last + 1) * width - 1
    near = client.gather([client.submit(_between, t, low, high) for t in ts])
    values = np.sort(np.concatenate(near))
    before = int(cum[first - 1]) if first else 0
    pair = values[[r - before for r in ranks]]
    # The same interpolation as np.quantile's: the fraction of h, between the two values.
    return int(np.quantile(pair, h - k))


def _column(df: pd.DataFrame, name: str) -> np.ndarray:
    values: np.ndarray = df[name].to_numpy()
    return values


def _train(rows: pd.DataFrame, cutoff: int) -> pd.DataFrame:
    return rows[rows["ts"].to_numpy() < cutoff]


def _train_items(rows: pd.DataFrame, cutoff: int, as_of: int) -> pd.DataFrame:
    """compared_models.train_items on one partition, with the original codes (dense codes
    keep their order, so the ranker sees the same items, users and ties)."""
    return profiles.user_items(_train(rows, cutoff), as_of)


def _measure(
    rows: pd.DataFrame,
    items: pd.DataFrame,
    known: np.ndarray,
    model: ranker.RankerModel,
    cutoff: int,
    as_of: int,
) -> dict[str, Any]:
    """temporal_split's relevant items and ranking_metrics over this partition's evaluated
    users (their number, the means, and the items of their top 10 for coverage)."""
    test = rows[rows["ts"].to_numpy() >= cutoff]
    u, i = test["uid"].to_numpy(), test["pcode"].to_numpy()
    ok = np.isin(u, items["uid"].to_numpy()) & known[i]
    # A test item the user already had in train is a repeat, not a relevant new item.
    seen = pd.MultiIndex.from_arrays([items["uid"].to_numpy(), items["pcode"].to_numpy()])
    ok[ok] &= ~pd.MultiIndex.from_arrays([u[ok], i[ok]]).isin(seen)
    users, relevant = split._groups(u[ok], i[ok])
    out: dict[str, Any] = {"n": len(users), "means": {}, "listed": np.empty(0, dtype=np.int64)}
    if len(users):
        mine = items[np.isin(items["uid"].to_numpy(), users)]
        modelled = (model.position[mine["pcode"].to_numpy()] >= 0).any()
        # score() needs one modelled item among the users' (a small partition may have none).
        ranked = (
            ranker.score(model, mine, as_of, DEPTH, exclude=mine, reasons=False)
            if modelled
            else codes.empty_frame(ranker.RANKED_DTYPES)
        )
        top = compared_models.as_matrix(ranked, users, DEPTH)
        out["means"] = metrics.ranking_metrics(top, relevant, 1)
        listed = top[:, :10]
        out["listed"] = np.unique(listed[listed >= 0])
    return out


def engine_ndcg_on_cluster(
    rows: dd.DataFrame,
    params: ranker.RankerParams,
    client: Any,
    n_products: int,
    categories: np.ndarray | None = None,
) -> dict[str, float]:
    """``engine_ndcg`` of ``rows`` (cleaned as EVALUATION.md says, partitioned by user: all
    of a user's rows in one partition, as the job's are) computed on the workers."""
    active = rows.map_partitions(_active, meta=rows._meta)  # type: ignore[no-untyped-call]
    parts = client.compute(active.to_delayed())
    ts = [client.submit(_column, p, "ts") for p in parts]
    cutoff = exact_quantile(client, ts, split.TEST_QUANTILE)
    if cutoff is None:
        return {}
    train_ts = client.gather([client.submit(_train_max, t, cutoff) for t in ts])
    if max(train_ts) < 0:
        return {}
    as_of = int(max(train_ts))
    trained = np.unique(
        np.concatenate(client.gather([client.submit(_train_products, p, cutoff) for p in parts]))
    )
    known = np.zeros(n_products, dtype=bool)
    known[trained] = True
    started = time.perf_counter()
    items = [client.submit(_train_items, p, cutoff, as_of) for p in parts]
    frame = dd.from_delayed(items, meta=codes.empty_frame(profiles.ITEM_DTYPES), verify_meta=False)
    model = ranker_jobs.fit(client, frame, n_products, as_of, params, categories).model
    wait(model)  # type: ignore[no-untyped-call]
    fitted = time.perf_counter()
    parts_out = client.gather(
        [
            client.submit(_measure, p, it, known, model, cutoff, as_of)
            for p, it in zip(parts, items, strict=True)
        ]
    )
    done = time.perf_counter()
    n = sum(o["n"] for o in parts_out)
    if n == 0:
        return {}
    keys = next(o["means"] for o in parts_out if o["n"])
    out = {k: sum(o["means"][k] * o["n"] for o in parts_out if o["n"]) / n for k in keys}
    listed = np.unique(np.concatenate([o["listed"] for o in parts_out]))
    out["coverage@10"] = len(listed) / len(trained)
    out["fit_s"] = round(fitted - started, 3)
    out["recommend_s"] = round(done - fitted, 3)
    return {k: float(v) for k, v in out.items() if np.isfinite(v)}


def _train_max(ts: np.ndarray, cutoff: int) -> int:
    before = ts[ts < cutoff]
    return int(before.max()) if len(before) else -1


def _train_products(rows: pd.DataFrame, cutoff: int) -> np.ndarray:
    return np.unique(_train(rows, cutoff)["pcode"].to_numpy())
