"""A search's trials as tasks on the Dask cluster's workers: the split sent to each worker
once, weights shared between the trials of a round, each trial sent when a worker is free."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from concurrent.futures import CancelledError
from typing import Any

import numpy as np
from distributed import wait

from profile_engine.evaluation.split import Split
from profile_engine.tuning import fit_memo
from profile_engine.tuning.trials import Candidate, Outcome, run_held, weights_held

# (candidates, seconds left or None: no limit, the users ranked: trials.ALL...) -> outcomes
Runner = Callable[[list[Candidate], float | None, str], list[Outcome]]


class TrialsFailed(Exception):
    """Trials could not run (a worker lost, most often for memory): the choice falls back."""


def on_cluster(client: Any, split: Split, categories: np.ndarray, select: np.ndarray) -> (
    Runner
):
    """Trials as tasks on every worker; the split and categories are sent to each worker
    once and held there (``fit_memo.hold``), and the trials run only where they are held."""
    search = uuid.uuid4().hex
    try:
        holders = list(client.run(fit_memo.hold, search, split, categories, select))
    except Exception as exc:  # noqa: BLE001 - a worker lost while receiving the split
        raise TrialsFailed(f"the tuning's data could not reach the workers ({exc})") from exc

    # The worker that last fitted each set of weights (fit_memo.weight_key): most rounds try
    # settings the weights do not depend on, and their trials get the round's weights from
    # there (a few MB for KNN, against a second of fitting them again on the other worker).
    fitted: dict[tuple[Any, ...], str] = {}

    def runner(candidates: list[Candidate], left: float | None, users: str) -> list[Outcome]:
        alive = set(client.scheduler_info().get("workers", {}))
        keys = [None if c.params is None else fit_memo.weight_key(c.params) for c in candidates]
        known = {k for k in keys if k is not None and fitted.get(k) in alive}
        shared: dict[tuple[Any, ...], Any] = {}  # weights several trials use: sent to them
        for c, k in zip(candidates, keys, strict=True):
            if k in known and k not in shared and keys.count(k) > 1:
                shared[k] = client.submit(weights_held, search, c.params, workers=[fitted[k]],
                                          allow_other_workers=True, pure=False)
        plan = []
        for i, (c, key) in enumerate(zip(candidates, keys, strict=True)):
            weights, where = None, holders
            if key in shared:
                # Trials sharing weights cost alike: dealt out in turn from the worker that
                # has them (left to Dask, most would queue there to save a transfer).
                weights, where = shared[key], [_dealt(holders, fitted[key], i)]
            elif key in known:  # one trial: where its weights were fitted (and are kept)
                where = [fitted[key]]
            plan.append((c, weights, where))
        futures = _fed(client, search, users, plan, left, holders)
        ran_on = client.who_has([f for f in futures if f.status == "finished"])
        for f, key in zip(futures, keys, strict=False):  # (trials the budget left unsent)
            if key is not None and ran_on.get(f.key):
                fitted[key] = ran_on[f.key][0]
        failed = [f for f in futures if f.status == "error"]
        if failed:  # most often a worker killed for memory: the trials stop here
            why = failed[0].exception()
            client.cancel(futures)
            raise TrialsFailed(f"a tuning trial failed: {why!r}")
        done = [f for f in futures if f.status == "finished"]
        client.cancel([f for f in futures if f.status != "finished"])
        # In submission order, so ties go to the same candidate as a run without a cluster.
        return list(client.gather(done))

    return runner


def _fed(
    client: Any,
    search: str,
    users: str,
    plan: list[tuple[Candidate, Any, list[str]]],
    left: float | None,
    holders: list[str],
) -> list[Any]:
    """The futures of ``plan``'s trials (candidate, weights, workers), each sent when a
    worker thread is free, until they end or ``left`` seconds pass (then fewer futures than
    trials). Sent all at once, Dask would deal them out by a guess of their cost: the first
    round's three-second EASE fit got two of the baselines queued behind it while the other
    worker, done with its KNN trial, waited."""
    deadline = None if left is None else time.perf_counter() + left
    threads = client.nthreads()
    slots = max(1, sum(threads.get(h, 1) for h in holders))
    futures: list[Any] = []
    for c, weights, where in plan:
        while sum(f.status == "pending" for f in futures) >= slots:
            _wait(client, [f for f in futures if f.status == "pending"], _left(deadline),
                  holders, "FIRST_COMPLETED")
            if _left(deadline) == 0.0 or any(f.status == "error" for f in futures):
                return futures  # the budget is spent, or a trial failed: no more are sent
        # A pinned worker lost: elsewhere (a worker without the split fails the trial).
        futures.append(client.submit(run_held, search, c, users, weights, workers=where,
                                     allow_other_workers=where is not holders, pure=False))
    _wait(client, futures, _left(deadline), holders)
    return futures


def _left(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.perf_counter())


def _dealt(holders: list[str], first: str, i: int) -> str:
    """The worker of the ``i``-th trial dealt out over ``holders`` starting at ``first``."""
    order = [first] + [h for h in holders if h != first]
    return order[i % len(order)]


# How often a wait on trials checks that a worker holding the split is still there.
CHECK_EVERY_S = 5.0


def _wait(
    client: Any,
    futures: list[Any],
    left: float | None,
    holders: list[str],
    return_when: str = "ALL_COMPLETED",
) -> None:
    """Until the trials end (``return_when``: or the first of them) or ``left`` seconds
    pass; TrialsFailed when every worker that holds the split is gone (the trials could
    never run)."""
    deadline = None if left is None else time.perf_counter() + left
    while True:
        step = CHECK_EVERY_S if deadline is None else min(
            CHECK_EVERY_S, deadline - time.perf_counter()
        )
        try:
            wait(futures, timeout=max(step, 0.0),  # type: ignore[no-untyped-call]
                 return_when=return_when)
            return
        except TimeoutError:
            pass
        except CancelledError as exc:
            raise TrialsFailed(f"the tuning's trials were cancelled ({exc})") from exc
        if deadline is not None and time.perf_counter() >= deadline:
            return  # the budget is spent: the finished trials count, the others are cancelled
        alive = set(client.scheduler_info().get("workers", {}))
        if not alive & set(holders):
            client.cancel(futures)
            raise TrialsFailed("every worker holding the tuning's split was lost")
