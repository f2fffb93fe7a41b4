"""compute/neighbours: co-occurrence counts, cosine top-k, partition and block sums, history."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from profile_engine.compute import neighbours, profiles
from profile_engine.compute.catalog import Catalog
from tests.profile_engine.conftest import AS_OF, A, B, Cc, F, V, rows


def _counts(block: object) -> dict[tuple[int, int], int]:
    dense = block if isinstance(block, np.ndarray) else block.toarray()  # type: ignore[attr-defined]
    return {(int(a), int(b)): int(dense[a, b]) for a, b in zip(*np.nonzero(dense), strict=True)}


def test_cooccurrence_counts_and_cosine_neighbours(catalog: Catalog) -> None:
    # histories: u1 {A,B,C}, u2 {A,B}, u3 {B,C}, u4 {B,F}: n_A=2, n_B=4, n_C=2, n_F=1
    items = profiles.user_items(
        rows(
            (1, A, V, 1),
            (1, B, V, 2),
            (1, Cc, V, 3),
            (2, A, V, 1),
            (2, B, V, 1),
            (3, B, V, 1),
            (3, Cc, V, 1),
            (4, B, V, 1),
            (4, F, V, 1),
        ),
        AS_OF,
    )
    n, (co,) = neighbours.partition_counts(items, 50, len(catalog), [(0, len(catalog))])
    assert n.tolist() == [2, 4, 2, 0, 0, 1]
    pairs = {k: c for k, c in _counts(co).items() if k[0] != k[1]}
    assert pairs == {
        (A, B): 2,
        (B, A): 2,
        (A, Cc): 1,
        (Cc, A): 1,
        (B, Cc): 2,
        (Cc, B): 2,
        (B, F): 1,
        (F, B): 1,
    }
    assert all(_counts(co)[(i, i)] == n[i] for i in range(len(catalog)) if n[i])  # the diagonal
    nb = neighbours.top_neighbours(co, 0, n, catalog.in_stock, k=5)
    got = {(a, b): round(s, 4) for a, b, s, _ in nb.itertuples(index=False)}
    assert got == {
        (A, B): round(2 / math.sqrt(8), 4),
        (A, Cc): 0.5,
        (B, Cc): round(2 / math.sqrt(8), 4),
        (B, A): round(2 / math.sqrt(8), 4),
        (Cc, B): round(2 / math.sqrt(8), 4),
        (Cc, A): 0.5,
        (F, B): 0.5,  # F is out of stock: it has neighbours, but is nobody's neighbour
    }
    # best first, k per item, min_count filter
    assert nb[nb["a"] == A]["b"].tolist() == [B, Cc]
    assert neighbours.top_neighbours(co, 0, n, catalog.in_stock, k=1)["b"].tolist() == [B, A, B, B]
    strong = neighbours.top_neighbours(co, 0, n, catalog.in_stock, k=5, min_count=2)
    assert set(zip(strong["a"], strong["b"], strict=True)) == {(A, B), (B, A), (B, Cc), (Cc, B)}
    assert neighbours.item_neighbours(items, 50, catalog.in_stock, k=5).equals(nb)
    # a dense block (summed in place) ranks the same, whole or cut into rows, any k
    for k, first in ((1, 0), (5, 0), (10, 0), (2, 2)):
        sparse = neighbours.top_neighbours(co[first:], first, n, catalog.in_stock, k=k)
        dense = neighbours.top_neighbours(co[first:].toarray(), first, n, catalog.in_stock, k=k)
        pd.testing.assert_frame_equal(dense, sparse)
    none = neighbours.top_neighbours(
        np.zeros((0, len(catalog)), np.int32), 6, n, catalog.in_stock, 5
    )
    assert none.empty and none.dtypes.to_dict() == nb.dtypes.to_dict()


def test_pair_counts_add_up_across_partitions(catalog: Catalog) -> None:
    events = rows(*[(u, p, V, d) for u in range(1, 9) for d, p in enumerate([A, B, Cc, (u % 5)])])
    items = profiles.user_items(events, AS_OF)
    whole = [(0, len(catalog))]
    _, (co,) = neighbours.partition_counts(items, 50, len(catalog), whole)
    halves = [
        neighbours.partition_counts(items[items["uid"] % 2 == r], 50, len(catalog), whole)[1][0]
        for r in (0, 1)
    ]
    assert _counts(halves[0] + halves[1]) == _counts(co)


def _random_items(users: int, n_items: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    uid = np.repeat(np.arange(users, dtype=np.int64) * 7919, rng.integers(1, 60, users))
    return (
        pd.DataFrame(
            {
                "uid": uid,
                "pcode": (rng.zipf(1.3, len(uid)) % n_items).astype(np.int32),
                "last_ts": rng.integers(0, 10**9, len(uid)),
            }
        )
        .drop_duplicates(["uid", "pcode"])
        .reset_index(drop=True)
    )


@pytest.mark.parametrize("dense_cells", [1 << 24, 0], ids=["dense", "sparse"])
def test_grouped_block_sums_give_the_one_process_lists(
    monkeypatch: pytest.MonkeyPatch, dense_cells: int
) -> None:
    # Partitions counted in groups, in batches, cut into row blocks, dense or sparse sums,
    # blocks summed again across groups: the lists equal counting everything at once.
    n_items = 700
    items = _random_items(3000, n_items, 3)
    in_stock = np.random.default_rng(4).random(n_items) > 0.1
    expected = neighbours.item_neighbours(items, 20, in_stock, k=10, min_count=2)
    monkeypatch.setattr(neighbours, "DENSE_CELLS", dense_cells)
    monkeypatch.setattr(neighbours, "SPARSE_MERGE", 5_000)
    monkeypatch.setattr(neighbours, "COUNT_BATCH", 4_000)
    bounds = neighbours.block_bounds(n_items, 128)
    parts = [items[items["uid"] % 7 == r] for r in range(7)]
    groups = [neighbours.group_counts(parts[i : i + 3], 20, n_items, bounds) for i in (0, 3, 6)]
    item_users = sum(g[0] for g in groups)
    lists = [
        neighbours.top_neighbours(
            sum(g[1][r] for g in groups[1:]) + groups[0][1][r],
            lo,
            item_users,
            in_stock,
            k=10,
            min_count=2,
        )
        for r, (lo, _) in enumerate(bounds)
    ]
    got = pd.concat(lists, ignore_index=True)
    assert len(got) > 1000
    pd.testing.assert_frame_equal(got, expected)


def test_recent_history_keeps_newest_distinct() -> None:
    items = profiles.user_items(
        rows((1, A, V, 3), (1, B, V, 2), (1, Cc, V, 1), (1, A, V, 5)), AS_OF
    )
    assert neighbours.recent_history(items, 2)["pcode"].tolist() == [Cc, B]


def test_newest_first_is_the_three_key_sort_whatever_the_row_order() -> None:
    """recent_history's order: by user, newest first, ties by product code; the packed-key
    path (rows by user and product, as user_items leaves them) and the lexsort agree."""
    rng = np.random.default_rng(8)
    n = 4_000
    uid = rng.choice(rng.integers(-(2**62), 2**62, 200), n)
    pcode = rng.integers(0, 300, n).astype(np.int32)
    last_ts = rng.integers(10**12, 10**12 + 50, n)  # many ties
    by_user = np.lexsort((pcode, uid))
    keep = np.r_[True, (uid[by_user][1:] != uid[by_user][:-1]) | (
        pcode[by_user][1:] != pcode[by_user][:-1])]  # distinct (user, product), as user_items
    rows = by_user[keep]
    for u, t, p in ((uid[rows], last_ts[rows], pcode[rows]), (uid, last_ts, pcode)):
        np.testing.assert_array_equal(neighbours._newest_first(u, t, p), np.lexsort((p, -t, u)))
