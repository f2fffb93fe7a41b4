"""The per-product stages: every product's neighbours, and the popular lists."""

from __future__ import annotations

import dask.dataframe as dd
import pandas as pd
from dask.base import compute

from profile_engine import partitions
from profile_engine.compute import codes, popular
from profile_engine.stages.inputs import Catalogue
from profile_engine.stages.job import Job

POPULAR_SIZE = 100


def neighbours(job: Job, catalogue: Catalogue, items: dd.DataFrame, rows: int) -> pd.DataFrame:
    """Co-occurrence neighbours of every product (``neighbours.top_neighbours`` rows) from
    the ``rows`` user-product rows of ``items``."""
    settings = job.settings
    blocks = partitions.item_neighbours(
        job.client,
        items,
        catalogue.ref,
        len(catalogue.catalog),
        settings.history,
        settings.neighbours,
        rows,
    )
    return pd.concat(compute(*blocks), ignore_index=True)


def popular_lists(catalogue: Catalogue, items: dd.DataFrame, as_of_ms: int) -> pd.DataFrame:
    """The ``POPULAR_SIZE`` most popular products overall and per category
    (``popular.popular_table`` rows)."""
    parts = items.map_partitions(
        popular.local_popularity, as_of_ms, meta=codes.empty_frame(popular.POPULARITY_DTYPES)
    )
    return popular.popular_table(parts.compute(), catalogue.catalog, POPULAR_SIZE)
