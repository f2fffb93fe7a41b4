"""The ranker on the cluster: per-partition item stats and Gram shares, one fit, broadcast model.

Only the Gram matrix (max_items^2 float32) and the item stats travel: partial Grams are
summed pairwise on the workers, the fit (one matrix inverse) runs on a worker, and the
fitted model stays there, replicated to every worker for the per-partition scoring.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dask.dataframe as dd
import numpy as np
import pandas as pd
from dask.delayed import delayed
from distributed import Client, Future

from profile_engine import heap, partitions
from profile_engine.compute import codes, ranker

__all__ = ["Fitted", "by_user", "fit", "ranked", "score_users"]


@dataclass(frozen=True)
class Fitted:
    model: Future[Any]  # the fitted RankerModel, replicated to every worker
    modelled: int  # products the model covers
    interacted: int  # products with any interaction in the input


def fit(
    client: Client,
    items: dd.DataFrame,
    n_products: int,
    as_of_ms: int,
    params: ranker.RankerParams,
    categories: np.ndarray | None = None,
) -> Fitted:
    """The fitted ``RankerModel`` as a future replicated to every worker, and how much of the
    catalogue it covers (``categories``: category code per catalogue product, for the
    category prior)."""
    stats = items.map_partitions(
        ranker.local_item_stats,
        as_of_ms,
        params,
        meta=codes.empty_frame(ranker.ITEM_STATS_DTYPES),
    ).compute()
    stats = stats.groupby("pcode", sort=False)[["users", "recent"]].sum().reset_index()
    columns = ranker.choose_columns(stats, n_products, params)
    grams = [
        delayed(ranker.local_gram)(part, columns, n_products, as_of_ms, params)
        for part in items.to_delayed()
    ]
    model = delayed(ranker.fit)(
        partitions.summed(grams), stats, columns, n_products, params, categories
    )
    future: Future[Any] = client.compute(model)
    client.replicate([future])
    return Fitted(future, len(columns), len(stats))


def ranked(
    items: dd.DataFrame, model: Future[Any], catalog_ref: object, as_of_ms: int, k: int
) -> dd.DataFrame:
    """Per user-partition: the ranker's top ``k`` (``ranker.RANKED_DTYPES``)."""
    return partitions.zip_partitions(
        partitions.ranked_for,
        [items],
        codes.empty_frame(ranker.RANKED_DTYPES),
        model,
        catalog_ref,
        as_of_ms,
        k,
    )


def by_user(items: pd.DataFrame, client: Client) -> dd.DataFrame:
    """A user-item frame as Dask partitions that each hold complete users (the Gram of a
    user split across partitions would lose its cross terms)."""
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    frame = dd.from_pandas(items.set_index("uid"), npartitions=2 * workers, sort=True)
    parts: dd.DataFrame = frame.reset_index()
    return parts


def _score_part(
    part: pd.DataFrame, model: ranker.RankerModel, as_of_ms: int, k: int, users: np.ndarray
) -> pd.DataFrame:
    """The evaluation's scoring: the listed users, every train item of theirs excluded."""
    mine = part[np.isin(part["uid"].to_numpy(), users)]
    with heap.blocks_on_heap():
        return ranker.score(model, mine, as_of_ms, k, exclude=mine, reasons=False)


def score_users(
    client: Client,
    items: dd.DataFrame,
    model: Future[Any],
    as_of_ms: int,
    k: int,
    users: np.ndarray,
) -> pd.DataFrame:
    """Top ``k`` of ``users`` scored per partition with the fitted model (a replicated
    future from ``fit``)."""
    tasks = [delayed(_score_part)(p, model, as_of_ms, k, users) for p in items.to_delayed()]
    parts = client.gather(client.compute(tasks))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
