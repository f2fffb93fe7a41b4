"""Choose the model a shop is served: rounds of trials on its validation split, then the guard.

Round 0 (always run to the end, whatever the budget): each ranker family at its defaults and
every baseline. Then, when the validation split has enough users to hold half of them out
(``MIN_HELD_OUT`` each side), one round per setting of the leading ranker family, its values
tried in parallel against the best so far, until the settings or the time budget run out (a
round cut short by the budget counts only the trials that finished).

The guard: validation users are cut in two by a hash of their id. Settings are chosen on one
half; the other decides, so that the best of many ranker trials is not judged on the users it
was picked on (the winner's curse: with twenty trials, noise alone lifts the best). There,
the simplest model wins unless a more complex one beats it by more than one standard error
of the paired per-user difference: most popular, then popular in the user's categories, then
item neighbours, then the ranker at its first-round settings, then the tuned ranker, each
challenging the one kept so far. The reason says which won and by how much.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from generation import ModelChoice, ModelTrial
from profile_engine.compute import codes
from profile_engine.compute.ranker import RankerParams
from profile_engine.evaluation.split import Split, validation_split
from profile_engine.tuning import fit_memo, space
from profile_engine.tuning.cluster_trials import Runner, TrialsFailed, on_cluster
from profile_engine.tuning.trials import (
    ALL,
    BASELINES,
    HELD_OUT,
    RANKED,
    RANKER,
    SELECTING,
    Candidate,
    Outcome,
    run,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Choice:
    served: str  # RANKER or a baseline's name
    params: RankerParams  # what the ranker path fits (served in RANKED)
    reason: str
    outcomes: tuple[Outcome, ...]
    budget_s: float
    used_s: float

    @property
    def ranked(self) -> bool:
        """Served through the ranker's code path (fitted model, per-user lists)."""
        return self.served in RANKED

    def record(self) -> ModelChoice:
        settings = self.params.describe() if self.ranked else {}
        return ModelChoice(
            served=self.served,
            reason=self.reason,
            settings=settings,
            trials=tuple(
                ModelTrial(o.candidate.name, o.candidate.settings(), round(o.ndcg, 6),
                           round(o.seconds, 3))
                for o in self.outcomes
            ),
            budget_s=self.budget_s,
            used_s=round(self.used_s, 3),
        )


def choose(
    frame: pd.DataFrame,
    categories: np.ndarray,
    defaults: RankerParams,
    budget_s: float,
    client: Any = None,
) -> Choice:
    """The model for this shop from ``frame`` (uid, pcode, ts, etype: its cleaned
    interactions). ``categories``: category code per catalogue product. Trials run on
    ``client``'s workers when given, else here, one after the other."""
    started = time.perf_counter()
    try:
        return _choose(frame, categories, defaults, budget_s, client, started)
    finally:  # the weights the trials shared leave the workers (and this process)
        fit_memo.clear()
        if client is not None:
            try:
                client.run(fit_memo.clear)
            except Exception as exc:  # noqa: BLE001 - a lost worker took its memo with it
                log.warning("could not clear the tuning's weights on the workers: %s", exc)


def _choose(
    frame: pd.DataFrame,
    categories: np.ndarray,
    defaults: RankerParams,
    budget_s: float,
    client: Any,
    started: float,
) -> Choice:
    split = validation_split(frame) if len(frame) else None
    if split is None or not len(split.eval_users):
        return Choice(RANKER, defaults, "ranker at its defaults: the validation split has no "
                      "evaluated users to choose with", (), budget_s, 0.0)
    held = _held_out(split)
    select = ~held if held.any() else held | True
    runner = (
        on_cluster(client, split, categories, select)
        if client
        else _here(split, categories, select)
    )
    etypes = set(np.unique(split.train["etype"].to_numpy()).tolist())
    first = [Candidate.ranker(p) for p in space.first_round(defaults, split.n_items)]
    try:
        outcomes = runner(first + [Candidate.baseline(b) for b in BASELINES], None, ALL)
    except TrialsFailed as exc:
        return Choice(RANKER, defaults, f"ranker at its defaults: the tuning's first round "
                      f"failed ({exc}); lower PROFILE_ENGINE_TUNING_MAX_USERS or give the "
                      f"workers more memory", (), budget_s, time.perf_counter() - started)
    ranker_best = first_best = _best([o for o in outcomes if o.candidate.name == RANKER])
    # Too few validation users to hold half out: the guard would judge the best of many
    # trials on the users it was picked on, so only the first round's candidates compete.
    rounds = space.settings_of(
        ranker_best.candidate.params.family,  # type: ignore[union-attr]
        split.n_items,
        codes.VIEW in etypes,
        codes.ADD_TO_CART in etypes,
        len(np.unique(categories[split.items])) > 1,
    ) if held.any() else []
    for name, values in rounds:
        left = budget_s - (time.perf_counter() - started)
        if left <= 0:
            break
        params = ranker_best.candidate.params
        assert params is not None
        try:
            tried = runner(
                [Candidate.ranker(p) for p in space.variants(params, name, values)], left,
                SELECTING,
            )
        except TrialsFailed as exc:
            log.warning("tuning stopped after %d trials: %s", len(outcomes), exc)
            break
        outcomes += tried
        ranker_best = _best([ranker_best, *tried])
    if ranker_best is not first_best:
        # The search ranked only the selecting users: the guard needs the winner's figures
        # on the held-out ones too (one more trial, whatever is left of the budget).
        try:
            ranker_best = _merged(ranker_best, runner([ranker_best.candidate], None, HELD_OUT)[0],
                                  held)
        except TrialsFailed as exc:
            log.warning("the tuned ranker could not be judged, the first round's is: %s", exc)
            ranker_best = first_best
    baselines = [o for o in outcomes if o.candidate.name in BASELINES]
    used = time.perf_counter() - started
    label = (
        "held-out validation users" if held.any()
        else "validation users (too few to hold half out: untuned candidates only)"
    )
    return _verdict(first_best, ranker_best, baselines, held if held.any() else select, label,
                    outcomes, budget_s, used)


# Fewer validation users than this: no half is held out (both steps use all of them).
MIN_HELD_OUT = 40
# Fewer users to judge on than this: the most popular list, whatever the figures say (a
# standard error from a handful of users says little).
MIN_JUDGED = 20


def _held_out(split: Split) -> np.ndarray:
    """The validation users the guard decides on: about half, by a hash of their id."""
    users = split.users[split.eval_users].astype(np.uint64)
    held: np.ndarray = ((users * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(63)) == 1
    if held.sum() < MIN_HELD_OUT or (~held).sum() < MIN_HELD_OUT:
        return np.zeros(len(users), dtype=bool)
    return held


def _verdict(
    first: Outcome,
    tuned: Outcome,
    baselines: list[Outcome],
    judged: np.ndarray,
    label: str,
    outcomes: list[Outcome],
    budget_s: float,
    used_s: float,
) -> Choice:
    """The simplest model no more complex one beats by more than a standard error on the
    ``judged`` validation users. From most popular up through the baselines (``BASELINES``
    order), then the ranker at its first-round settings, then the tuned ranker: each
    challenger must beat the model kept so far (so tuned settings that do not clearly beat
    the defaults are not taken either)."""
    chain = [*baselines[1:], first] + ([tuned] if tuned is not first else [])
    kept = baselines[0]
    if judged.sum() < MIN_JUDGED:
        reason = (
            f"{kept.candidate.name}: {int(judged.sum())} {label} are too few to prefer any "
            f"model to it (at least {MIN_JUDGED})"
        )
        assert tuned.candidate.params is not None
        return Choice(kept.candidate.name, tuned.candidate.params, reason, tuple(outcomes),
                      budget_s, used_s)
    notes: list[str] = []
    for challenger in chain:
        a, b = challenger.per_user[judged], kept.per_user[judged]
        diff = (a - b).astype(np.float64)
        se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else float("inf")
        figures = (
            f"ndcg@10 {a.mean():.4f} vs {b.mean():.4f} (difference {diff.mean():+.4f}, "
            f"standard error {se:.4f})"
        )
        if diff.mean() > se:
            notes.append(f"{_name(challenger, first)} beat {_name(kept, first)}, {figures}")
            kept = challenger
        elif challenger is chain[-1]:
            notes.append(
                f"{_name(challenger, first)} did not beat {_name(kept, first)} by more than a "
                f"standard error, {figures}"
            )
    reason = (
        f"{kept.candidate.name}: " + "; ".join(notes[-2:]) + f"; on {int(judged.sum()):,} {label}"
    )
    params = kept.candidate.params or tuned.candidate.params
    assert params is not None
    return Choice(kept.candidate.name, params, reason, tuple(outcomes), budget_s, used_s)


def _name(o: Outcome, first: Outcome) -> str:
    if o.candidate.name != RANKER:
        return o.candidate.name
    return "ranker (first round)" if o is first else "ranker (tuned)"


def _merged(selecting: Outcome, held_out: Outcome, held: np.ndarray) -> Outcome:
    """One candidate's outcome from its trial on the selecting users and its trial on the
    ``held`` ones: every user's figure, the selecting users' mean."""
    per_user = selecting.per_user.copy()
    per_user[held] = held_out.per_user[held]
    return Outcome(selecting.candidate, selecting.ndcg, per_user,
                   selecting.seconds + held_out.seconds)


def _best(outcomes: list[Outcome]) -> Outcome:
    """Highest NDCG@10; the first tried on ties (defaults and simpler models come first)."""
    return max(outcomes, key=lambda o: o.ndcg)


def _here(split: Split, categories: np.ndarray, select: np.ndarray) -> Runner:
    search = uuid.uuid4().hex

    def runner(candidates: list[Candidate], left: float | None, users: str) -> list[Outcome]:
        deadline = None if left is None else time.perf_counter() + left
        out = []
        for c in candidates:
            if deadline is not None and time.perf_counter() > deadline:
                break
            out.append(run(split, c, categories, select, search, users))
        return out

    return runner
