"""The quality gate's two steps: evaluate the ranker on the run's own input, then judge it."""

from __future__ import annotations

from typing import Any

import dask.dataframe as dd

from profile_engine import gate
from profile_engine.compute import codes
from profile_engine.evaluation import data as eval_data
from profile_engine.evaluation import run as evaluate_run
from profile_engine.stages.inputs import Catalogue
from profile_engine.stages.job import Job

# Offline quality figures recorded in the run report and the manifest (the Info RPC shows them).
GATE_METRICS = ("precision@10", "recall@20", "ndcg@10", "hr@10", "coverage@10")


def evaluate(job: Job, catalogue: Catalogue, interactions: dd.DataFrame) -> dict[str, float]:
    """The same ranker code on the same cluster, fitted on the first 80% of the input's
    time and scored on the rest (EVALUATION.md), per user-partition of the interactions
    while they are still in memory; sums come here."""
    gate_rows = interactions.map_partitions(
        eval_data.clean, meta=codes.empty_frame(eval_data.COLUMNS)
    )
    quality = evaluate_run.engine_ndcg_on_cluster(
        gate_rows, job.settings.ranker_params(), job.client, len(catalogue.catalog)
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
