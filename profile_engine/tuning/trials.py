"""One trial: a candidate fitted on the validation split's train part, scored on its users.

A candidate is a ranker setting or one of the baselines the job can serve
(``compared_models.BASELINES``): the most popular items overall, the most popular of each
user's categories, and item-to-item neighbours.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from profile_engine import heap
from profile_engine.compute.ranker import RankerParams
from profile_engine.evaluation import compared_models, metrics
from profile_engine.evaluation.split import Split
from profile_engine.tuning import fit_memo

BASELINES = compared_models.BASELINES
ITEM_NEIGHBOURS = compared_models.ITEM_NEIGHBOURS
RANKER = "ranker"
# Candidates the job serves through the ranker's code path (fitted, per-user lists).
RANKED = frozenset({RANKER, "item_neighbours"})
DEPTH = 10
# Which validation users a trial ranks (``run``): all; the ones whose mean selects settings
# (a search's later rounds); the others, which the guard judges on (the search's winner,
# already ranked for the selecting ones).
ALL, SELECTING, HELD_OUT = "all", "selecting", "held_out"


@dataclass(frozen=True)
class Candidate:
    name: str  # RANKER or one of BASELINES
    params: RankerParams | None = None  # the ranker's (item_neighbours: ITEM_NEIGHBOURS)

    @classmethod
    def ranker(cls, params: RankerParams) -> Candidate:
        return cls(RANKER, params)

    @classmethod
    def baseline(cls, name: str) -> Candidate:
        if name not in BASELINES:
            raise ValueError(f"unknown baseline {name!r}: one of {BASELINES}")
        return cls(name, ITEM_NEIGHBOURS if name == "item_neighbours" else None)

    def settings(self) -> dict[str, str]:
        return self.params.describe() if self.params is not None else {}

    def model(self, categories: np.ndarray) -> compared_models.Model:
        """The evaluation model of this candidate (``categories``: per dense train item)."""
        if self.name in BASELINES:
            return compared_models.baseline(self.name, categories)
        assert self.params is not None
        return compared_models.EngineRanker(self.params, name=self.name, categories=categories)


@dataclass(frozen=True)
class Outcome:
    candidate: Candidate
    ndcg: float  # mean NDCG@10 over the validation users that select settings
    per_user: np.ndarray  # NDCG@10 of every validation user (the guard's held-out ones too)
    seconds: float


def run(
    split: Split,
    candidate: Candidate,
    categories: np.ndarray,
    select: np.ndarray,
    search: str | None = None,
    users: str = ALL,
) -> Outcome:
    """Fit on ``split.train``, rank for ``split.eval_users``: their NDCG@10 and the time
    taken. ``categories``: category code per catalogue product (indexed by ``split.items``);
    ``select``: the evaluated users whose mean chooses between candidates; ``search``: names
    the search this trial is part of (trials of one search share fitted weights);
    ``users``: which of them are ranked (ALL, SELECTING or HELD_OUT); the per-user figures
    of the others are NaN, and so is the mean when no selecting user is ranked."""
    with heap.blocks_on_heap():
        return _run(split, candidate, categories, select, search, users)


def _run(
    split: Split,
    candidate: Candidate,
    categories: np.ndarray,
    select: np.ndarray,
    search: str | None,
    users: str,
) -> Outcome:
    started = time.perf_counter()
    cats = categories[split.items]
    model: compared_models.Model
    if candidate.params is not None:  # the engine's ranker: weights shared between trials
        model = fit_memo.engine_ranker(split, candidate.params, cats, candidate.name, search)
    else:
        model = candidate.model(cats)
        model.fit(split.train, split.n_users, split.n_items)
    scored = {ALL: np.ones_like(select), SELECTING: select, HELD_OUT: ~select}[users]
    top = model.recommend(split.eval_users[scored], DEPTH)
    relevant = [r for r, keep in zip(split.relevant, scored, strict=True) if keep]
    figures = metrics.ndcg_per_user(top, relevant, 10)
    if not select.any():
        ndcg = 0.0
    else:
        ndcg = float(figures[select[scored]].mean()) if select[scored].any() else float("nan")
    per_user = np.full(len(split.eval_users), np.nan, dtype=np.float32)
    per_user[scored] = figures
    return Outcome(candidate, ndcg, per_user, time.perf_counter() - started)


def run_held(
    search: str, candidate: Candidate, users: str = ALL, weights: Any = None
) -> Outcome:
    """``run`` on the inputs this worker holds for ``search`` (``fit_memo.hold``);
    ``weights``: the candidate's fitted weights, from the worker that fitted them
    (``fit_memo.fitted_weights``), or None: fitted here unless kept here."""
    split, categories, select = fit_memo.held(search)
    if weights is not None and candidate.params is not None:
        fit_memo.install(search, candidate.params, weights)
    return run(split, candidate, categories, select, search, users)


def weights_held(search: str, params: RankerParams) -> Any:
    """``fit_memo.fitted_weights`` with a trial's allocator settings (a task of its own:
    its result goes to the trials of a round that share these weights, on any worker)."""
    with heap.blocks_on_heap():
        return fit_memo.fitted_weights(search, params)
