"""Profile-engine test fixtures: a small catalogue, frame builders, a shared LocalCluster."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dask
import numpy as np
import pandas as pd
import pytest

from profile_engine.compute import codes, neighbours, popular, profiles
from profile_engine.compute.catalog import Catalog

DAY = codes.DAY_MS
AS_OF = 1_790_000_000_000  # 2026-09-21T14:13:20Z
V, C, P = codes.VIEW, codes.ADD_TO_CART, codes.PURCHASE
A, B, Cc, D, E, F = range(6)  # product codes of the catalogue below (sorted ids A..F)


@pytest.fixture
def catalog() -> Catalog:
    """Six products: A B C in books, D E in garden, F in books but out of stock."""
    return Catalog.from_frame(
        pd.DataFrame(
            {
                "product_id": ["A", "B", "C", "D", "E", "F"],
                "name": ["Atlas", "Biography", "Comic", "Drill", "Eco Hose", "Fable"],
                "category": ["books", "books", "books", "garden", "garden", "books"],
                "price": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0],
                "in_stock": [True, True, True, True, True, False],
            }
        )
    )


def rows(*events: tuple[Any, ...]) -> pd.DataFrame:
    """Interaction rows from (user, pcode, etype, days before AS_OF[, qty, price, okey, src])."""
    out = []
    for e in events:
        user, pcode, etype, days_ago, *rest = e
        qty, price, okey, src = (*rest, *(1, 10.0, 0, codes.SRC_EVENT)[len(rest) :])
        out.append(
            {
                "uid": user,
                "pcode": pcode,
                "etype": etype,
                "ts": AS_OF - int(days_ago * DAY),
                "qty": qty,
                "price": price,
                "okey": okey,
                "src": src,
            }
        )
    return pd.DataFrame(out).astype(codes.INTERACTION_DTYPES)


def recs_inputs(catalog: Catalog) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Items, affinity, neighbours and popular lists of four users (recommend, assemble)."""
    events = rows(
        (1, A, P, 1),
        (1, B, V, 1),  # user 1 bought A, viewed B
        (2, D, V, 1),
        (2, E, V, 2),
        (2, D, V, 2),
        (3, A, V, 1),
        (3, B, V, 1),
        (3, Cc, V, 1),
        (4, B, V, 1),
        (4, F, V, 1),
    )
    items = profiles.user_items(events, AS_OF)
    aff = profiles.category_affinity(items, catalog.category_codes)
    nb = neighbours.item_neighbours(items, 50, catalog.in_stock, k=10)
    pop = popular.popular_table(popular.local_popularity(items, AS_OF), catalog, k=10)
    return items, aff, nb, pop


@pytest.fixture(scope="session")
def scheduler_address(moto_endpoint: str) -> Iterator[str]:
    """One LocalCluster shared by the tests that only need *a* cluster (started after moto so
    its worker processes inherit the test AWS credentials)."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        host="127.0.0.1",
        memory_limit="2GiB",
    ) as cluster:
        yield cluster.scheduler_address


def array(values: list[Any]) -> np.ndarray:
    return np.asarray(values)


@pytest.fixture(autouse=True)
def _small_user_partitions(_isolate_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Test shops have some 10-50 thousand events: cut them into several user partitions
    (as a production input is), so the per-partition steps, aligned zips and partial sums
    are tested across partitions and workers, not on one partition."""
    monkeypatch.setenv("PROFILE_ENGINE_USER_PARTITION_ROWS", "3000")


@pytest.fixture
def sync_scheduler() -> Iterator[None]:
    """Dask's synchronous scheduler: a plain dask graph runs in-process."""
    with dask.config.set(scheduler="sync"):
        yield
