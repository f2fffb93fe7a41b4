"""The model choice and the quality gate: tune on the run's own input, evaluate what will be
served on its time split, then judge it against the served generation."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import dask.dataframe as dd
import numpy as np
import pandas as pd

from generation import ModelChoice
from profile_engine import gate, tuning
from profile_engine.compute import codes
from profile_engine.evaluation import data as eval_data
from profile_engine.evaluation import run as evaluate_run
from profile_engine.publish import dynamodb_client
from profile_engine.served import ServedTable
from profile_engine.stages.inputs import Catalogue
from profile_engine.stages.job import Job
from profile_engine.tuning import carry

log = logging.getLogger(__name__)

# Offline quality figures recorded in the run report and the manifest (the Info RPC shows them).
GATE_METRICS = ("precision@10", "recall@20", "ndcg@10", "hr@10", "coverage@10")


@dataclass(frozen=True)
class Tuned:
    choice: tuning.Choice
    frame: pd.DataFrame | None  # the (sampled) rows the choice was made on; None: not needed


def tune(job: Job, catalogue: Catalogue, interactions: dd.DataFrame) -> Tuned:
    """The model this shop gets (``tuning.choose``), on its cleaned interactions (four
    numeric columns, about 21 bytes a row, at most ``tuning_max_users`` users)."""
    settings = job.settings
    if not settings.tuning:
        choice = tuning.Choice(
            tuning.trials.RANKER, settings.ranker_params(),
            "ranker at its configured settings: tuning is off", (), 0.0, 0.0,
        )
        job.report.model = choice.record()
        return Tuned(choice, None)
    now = datetime.now(UTC)
    carried = carry.carried(served_choice(job), settings.ranker_params(),
                            settings.tuning_every_days, now)
    if carried is not None and carried[0].ranked:
        choice, job.report.model = carried
        return Tuned(choice, None)  # evaluated on the cluster: no rows gathered here
    frame = sampled_rows(interactions, settings.tuning_max_users)
    frame = in_time_order(frame)
    if carried is not None:  # a baseline: evaluated on these rows
        choice, job.report.model = carried
        return Tuned(choice, frame)
    choice = tuning.choose(
        frame, catalogue.catalog.category_codes, settings.ranker_params(),
        settings.tuning_budget_s, job.client,
    )
    job.report.model = replace(choice.record(), tuned_at=now.isoformat(timespec="seconds"))
    return Tuned(choice, frame)


def served_choice(job: Job) -> ModelChoice | None:
    """The model choice in the served generation's manifest; None when there is none or
    the table cannot be read (the trials run then: carrying is only a saving)."""
    settings = job.settings
    if settings.tuning_every_days <= 0:
        return None
    try:
        return ServedTable(
            dynamodb_client(settings.aws_region, settings.dynamodb_endpoint_url), settings.table
        ).served().model
    except Exception as exc:  # noqa: BLE001 - a first run has no table: the trials run
        log.info("no model choice to carry (%s): the trials run", exc)
        return None


def sampled_rows(interactions: dd.DataFrame, most: int) -> pd.DataFrame:
    """The cleaned rows (``eval_data.clean``) of at most ``most`` users: those whose id
    hashes lowest (``user_hash``), the same ones on every run of the same input. Chosen on
    the workers, so only the sample's rows come back (a third of them on a shop of 100,000
    users, where gathering every row and sampling here took seconds on both nights)."""
    lowest = interactions.map_partitions(
        _lowest_hashes, most, meta=codes.empty_frame({"h": "uint64"})
    ).compute()["h"].to_numpy()
    lowest = np.unique(lowest)  # a user in two partitions (not after the shuffle) counts once
    cut = int(np.partition(lowest, most - 1)[most - 1]) if len(lowest) > most else None
    rows: pd.DataFrame = interactions.map_partitions(
        _clean_below, cut, meta=codes.empty_frame(eval_data.COLUMNS)
    ).compute()
    return rows


def in_time_order(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` sorted by (ts, uid, pcode), stable: the same rows in the same order however
    the workers returned them. One stable argsort of a packed int64 key when the three fit
    in one (a pandas sort by three columns took 0.7 s for 1.5 M rows, this 0.3 s)."""
    ts, uid, pcode = (rows[c].to_numpy() for c in ("ts", "uid", "pcode"))
    if not len(rows) or pcode.min() < 0:
        return rows.sort_values(["ts", "uid", "pcode"], kind="stable").reset_index(drop=True)
    users, user = np.unique(uid, return_inverse=True)  # ascending, as uid sorts
    key = codes.packed([
        ((ts - ts.min()).astype(np.int64), int(ts.max()) - int(ts.min()) + 1),
        (user, len(users)),
        (pcode, int(pcode.max()) + 1),
    ])
    if key is None:
        return rows.sort_values(["ts", "uid", "pcode"], kind="stable").reset_index(drop=True)
    return rows.take(np.argsort(key, kind="stable")).reset_index(drop=True)


def user_hash(uid: np.ndarray) -> np.ndarray:
    """splitmix64 of each user id: one-to-one, so distinct users never tie, and unrelated
    to the guard's halves (``tuning.choose``: the top bit of uid x the golden ratio)."""
    z = uid.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    out: np.ndarray = z ^ (z >> np.uint64(31))
    return out


def _lowest_hashes(part: pd.DataFrame, most: int) -> pd.DataFrame:
    """The ``most`` lowest user hashes of a user-partition (every user's rows are in one)."""
    h = user_hash(np.unique(eval_data.clean(part)["uid"].to_numpy()))
    return pd.DataFrame({"h": np.sort(h)[:most] if len(h) > most else h})


def _clean_below(part: pd.DataFrame, cut: int | None) -> pd.DataFrame:
    rows = eval_data.clean(part)
    if cut is None:
        return rows
    return rows[user_hash(rows["uid"].to_numpy()) <= np.uint64(cut)]


def evaluate(
    job: Job, catalogue: Catalogue, interactions: dd.DataFrame, tuned: Tuned
) -> dict[str, float]:
    """What will be served, fitted on the first 80% of the input's time and scored on the
    rest (EVALUATION.md). The ranker runs on the cluster per user-partition of the
    interactions while they are still in memory; a baseline on the tuning's rows."""
    choice = tuned.choice
    if choice.ranked or tuned.frame is None:
        gate_rows = interactions.map_partitions(
            eval_data.clean, meta=codes.empty_frame(eval_data.COLUMNS)
        )
        quality = evaluate_run.engine_ndcg_on_cluster(
            gate_rows, choice.params, job.client, len(catalogue.catalog),
            catalogue.catalog.category_codes,
        )
    else:
        quality = evaluate_run.baseline_on_test(
            tuned.frame, choice.served, catalogue.catalog.category_codes
        )
    job.report.metrics.update({k: v for k, v in quality.items() if k in GATE_METRICS})
    return quality


def gate_allows(job: Job, dynamodb: Any, quality: dict[str, float], force: bool) -> bool:
    """Whether to publish: always with the gate off, else when the ranker holds up against
    the served generation's figure (or ``force``); the verdict goes into the report."""
    settings = job.settings
    if not settings.quality_gate:
        return True
    live_generation, live = gate.live_metrics(dynamodb, settings.table)
    verdict = gate.judge(quality, live, settings.quality_tolerance, force)
    job.report.gate = verdict.reason + (f" ({live_generation})" if live_generation else "")
    return verdict.publish
