"""The per-user list stages: fit the ranker, then each user's recommendations."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dask.dataframe as dd
import pandas as pd
from dask.base import compute
from distributed import Future

from profile_engine import partitions, ranker_jobs
from profile_engine.stages.inputs import Catalogue
from profile_engine.stages.job import Job, wait_for
from profile_engine.stages.user_frames import UserProfiles
from profile_engine.tuning import Choice


@dataclass(frozen=True)
class Ranked:
    model: Future[Any]  # the fitted RankerModel, replicated on every worker
    lists: dd.DataFrame  # ranker.RANKED_DTYPES per user-partition (not computed yet)


@dataclass(frozen=True)
class Recommended:
    recs: dd.DataFrame  # recommend.RECS_DTYPES, persisted, aligned with the profiles
    rows: int
    personalised: int  # rows from the user's own signals (tier 0)
    distinct: int  # distinct products recommended to anyone
    # The neighbours and popular lists as scattered to every worker: held as long as ``recs``
    # (scattered data has no recipe), so a partition of it lost with a worker can be redone.
    scattered: tuple[Future[Any], Future[Any]]


def rank(
    job: Job, catalogue: Catalogue, items: dd.DataFrame, as_of_ms: int, choice: Choice
) -> Ranked | None:
    """Fit the chosen ranker on every user's items; its top lists per user-partition. None
    when the choice serves a baseline without a model."""
    if not choice.ranked:
        return None
    n_products = len(catalogue.catalog)
    fitted = ranker_jobs.fit(
        job.client, items, n_products, as_of_ms, choice.params, catalogue.catalog.category_codes
    )
    job.report.model_coverage = {
        "modelled_products": fitted.modelled, "products_with_interactions": fitted.interacted,
    }
    lists = ranker_jobs.ranked(
        items, fitted.model, catalogue.ref, as_of_ms, job.settings.recommendations
    )
    return Ranked(fitted.model, lists)


def recommend(
    job: Job,
    catalogue: Catalogue,
    profiled: UserProfiles,
    ranked: Ranked | None,
    neighbours: pd.DataFrame,
    popular: pd.DataFrame,
    served: str,
) -> Recommended:
    """Each user's recommendations from the ranker's lists, the neighbours of their items,
    their categories' popular lists and the overall one (``served``: the model choice)."""
    client, settings = job.client, job.settings
    neighbours_ref, popular_ref = client.scatter([neighbours, popular], broadcast=True, hash=False)
    frames = [profiled.stats, profiled.items, profiled.affinity]
    func: Callable[..., pd.DataFrame] = partitions.baseline_recommend_for
    if ranked is not None:
        frames.append(ranked.lists)
        func = partitions.recommend_for
    recs = partitions.zip_partitions(
        func,
        frames,
        partitions.recs_meta(),
        neighbours_ref,
        popular_ref,
        catalogue.ref,
        settings.recommendations,
        settings.history,
        served,
    )
    recs = client.persist(recs)
    wait_for(job, [recs])
    rows, personalised, distinct = compute(
        recs.shape[0], (recs["tier"] == 0).sum(), recs["pcode"].nunique()
    )
    return Recommended(
        recs, int(rows), int(personalised), int(distinct), (neighbours_ref, popular_ref)
    )
