"""partitions.item_neighbours on a real cluster: the broadcast path (every block's task
counts from all recent histories) and the grouped partial sums give the one-process lists."""

from __future__ import annotations

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from dask.base import compute
from distributed import Client

from profile_engine import partitions
from profile_engine.compute import neighbours
from profile_engine.compute.catalog import Catalog


def _shop(users: int, n_items: int, seed: int) -> tuple[pd.DataFrame, Catalog]:
    rng = np.random.default_rng(seed)
    uid = np.repeat(np.arange(users, dtype=np.int64) * 7919, rng.integers(1, 60, users))
    items = (
        pd.DataFrame(
            {
                "uid": uid,
                "pcode": (rng.zipf(1.3, len(uid)) % n_items).astype(np.int32),
                "last_ts": rng.integers(0, 10**9, len(uid)),
            }
        )
        .drop_duplicates(["uid", "pcode"])
        .sort_values(["uid", "pcode"])
        .reset_index(drop=True)
    )
    catalog = Catalog.from_frame(
        pd.DataFrame(
            {
                "product_id": [f"p{i}" for i in range(n_items)],
                "name": [f"n{i}" for i in range(n_items)],
                "category": [f"c{i % 7}" for i in range(n_items)],
                "price": np.ones(n_items),
                "in_stock": rng.random(n_items) > 0.1,
            }
        )
    )
    return items, catalog


@pytest.mark.parametrize("broadcast_rows", [10**9, 0], ids=["broadcast", "grouped"])
def test_both_ways_give_the_one_process_lists(
    scheduler_address: str, monkeypatch: pytest.MonkeyPatch, broadcast_rows: int
) -> None:
    items, catalog = _shop(3000, 2500, 3)  # 3 blocks of 1024 products, or 8 of 313
    expected = neighbours.item_neighbours(
        items, 20, catalog.in_stock, k=10, min_count=partitions.MIN_PAIR_COUNT
    )
    monkeypatch.setattr(partitions, "NEIGHBOUR_BROADCAST_ROWS", broadcast_rows)
    monkeypatch.setattr(partitions, "NEIGHBOUR_GROUP_ROWS", 5_000)  # several groups
    # Whole users per partition, as the shuffle by user leaves them.
    parts = [items[items["uid"] % 5 == r] for r in range(5)]
    with Client(scheduler_address) as client:
        frame = client.persist(dd.from_delayed([client.scatter(p) for p in parts], meta=items))
        ref = client.scatter(catalog, broadcast=True)
        blocks = partitions.item_neighbours(client, frame, ref, len(catalog), 20, 10, len(items))
        got = pd.concat(compute(*blocks), ignore_index=True)
    assert len(blocks) > 1 and len(got) > 1000
    pd.testing.assert_frame_equal(got, expected)


def test_block_neighbours_equal_the_matrix_ranked() -> None:
    items, catalog = _shop(800, 300, 5)
    parts = [items[items["uid"] % 3 == r] for r in range(3)]
    histories = [neighbours.recent_codes(p, 15) for p in parts]
    blocks = [
        neighbours.block_neighbours(histories, lo, hi, catalog.in_stock, 7, 2)
        for lo, hi in neighbours.block_bounds(len(catalog), 64)
    ]
    expected = neighbours.item_neighbours(
        pd.concat(parts), 15, catalog.in_stock, k=7, min_count=2
    )
    pd.testing.assert_frame_equal(pd.concat(blocks, ignore_index=True), expected)
    assert neighbours.block_neighbours([], 0, 10, catalog.in_stock, 7).empty
    assert neighbours.block_neighbours(histories, 0, 300, catalog.in_stock, 0).empty
