"""The profiles' per-user passes compiled: rows sorted by user once, each user's groups
summed in one scan.

pandas' groupby made a dozen passes per partition (factorize, compress, one per aggregate,
frame and index building) for about 90,000 rows; here one stable sort and one scan. Sums are
pandas' own: Kahan-compensated, in the rows' order (``_kahan``), so every figure is equal to
the bit with what the groupbys gave.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np


def by_user_product(uid: np.ndarray, pcode: np.ndarray) -> np.ndarray:
    """``np.lexsort((pcode, uid))``: a stable argsort by user, then each user's rows by product
    (stable) in compiled code, as users have few rows."""
    order = np.argsort(uid, kind="stable")
    _sort_runs(uid[order], np.ascontiguousarray(pcode, dtype=np.int64), order)
    return order


@numba.njit(cache=True, nogil=True)
def _sort_runs(sorted_uid: np.ndarray, pcode: np.ndarray, order: np.ndarray) -> None:
    runs = _runs(sorted_uid)
    for g in range(len(runs) - 1):
        lo, hi = runs[g], runs[g + 1]
        if hi - lo <= 32:  # insertion sort: stable, and quick on a short run
            for i in range(lo + 1, hi):
                row = order[i]
                j = i
                while j > lo and pcode[order[j - 1]] > pcode[row]:
                    order[j] = order[j - 1]
                    j -= 1
                order[j] = row
        else:
            run = order[lo:hi].copy()
            keys = pcode[run]
            order[lo:hi] = run[np.argsort(keys, kind="mergesort")]


@numba.njit(cache=True, nogil=True, inline="always")
def _kahan(total: float, compensation: float, value: float) -> tuple[float, float]:
    """One step of pandas' group_sum (Kahan, and no NaN compensation after an infinity)."""
    y = value - compensation
    t = total + y
    compensation = t - total - y
    if compensation != compensation:
        compensation = 0.0
    return t, compensation


def user_items(
    uid: np.ndarray, pcode: np.ndarray, ts: np.ndarray, etype: np.ndarray, weight: np.ndarray,
    purchase: int,
) -> dict[str, np.ndarray]:
    """One row per (user, product), by user then product: last_ts (max), etype (max), score
    (sum of weights), n (rows), bought (any etype == purchase)."""
    order = by_user_product(uid, pcode)
    return dict(zip(
        ("uid", "pcode", "last_ts", "etype", "score", "n", "bought"),
        _items(
            uid[order], pcode[order], np.ascontiguousarray(ts[order], dtype=np.int64),
            np.ascontiguousarray(etype[order], dtype=np.int8),
            np.ascontiguousarray(weight[order], dtype=np.float64), purchase,
        ),
        strict=True,
    ))


@numba.njit(cache=True, nogil=True)
def _items(
    uid: np.ndarray, pcode: np.ndarray, ts: np.ndarray, etype: np.ndarray, weight: np.ndarray,
    purchase: int,
) -> Any:
    n = len(uid)
    starts = np.empty(n, dtype=np.int64)
    groups = 0
    for i in range(n):
        if i == 0 or uid[i] != uid[i - 1] or pcode[i] != pcode[i - 1]:
            starts[groups] = i
            groups += 1
    last_ts = np.empty(groups, dtype=np.int64)
    best = np.empty(groups, dtype=np.int8)
    score = np.empty(groups, dtype=np.float64)
    count = np.empty(groups, dtype=np.int32)
    bought = np.empty(groups, dtype=np.bool_)
    for g in range(groups):
        lo = starts[g]
        hi = starts[g + 1] if g + 1 < groups else n
        newest, strongest, total, comp, any_bought = ts[lo], etype[lo], 0.0, 0.0, False
        for i in range(lo, hi):
            newest = max(newest, ts[i])
            strongest = max(strongest, etype[i])
            total, comp = _kahan(total, comp, weight[i])
            any_bought = any_bought or etype[i] == purchase
        last_ts[g], best[g], score[g], count[g] = newest, strongest, total, hi - lo
        bought[g] = any_bought
    keys = starts[:groups]
    return uid[keys], pcode[keys], last_ts, best, score, count, bought


def user_stats(
    uid: np.ndarray, event: np.ndarray, etype: np.ndarray, ts: np.ndarray, spend: np.ndarray,
    okey: np.ndarray, cart: int, purchase: int,
) -> dict[str, np.ndarray]:
    """One row per user, by user: interactions (rows with ``event``), last_cart_ts and
    last_purchase_ts (max, -1: none), first_purchase_ts (min, -1: none), monetary (sum of
    ``spend``), frequency (distinct ``okey`` of the purchases)."""
    order = np.argsort(uid, kind="stable")
    return dict(zip(
        ("uid", "interactions", "last_cart_ts", "last_purchase_ts", "first_purchase_ts",
         "monetary", "frequency"),
        _stats(
            uid[order], np.ascontiguousarray(event[order], dtype=np.bool_),
            np.ascontiguousarray(etype[order], dtype=np.int8),
            np.ascontiguousarray(ts[order], dtype=np.int64),
            np.ascontiguousarray(spend[order], dtype=np.float64),
            np.ascontiguousarray(okey[order], dtype=np.int64), cart, purchase,
        ),
        strict=True,
    ))


@numba.njit(cache=True, nogil=True)
def _stats(
    uid: np.ndarray, event: np.ndarray, etype: np.ndarray, ts: np.ndarray, spend: np.ndarray,
    okey: np.ndarray, cart: int, purchase: int,
) -> Any:
    n = len(uid)
    starts = _runs(uid)
    users = len(starts) - 1
    interactions = np.zeros(users, dtype=np.int32)
    last_cart = np.full(users, -1, dtype=np.int64)
    last_purchase = np.full(users, -1, dtype=np.int64)
    first_purchase = np.full(users, -1, dtype=np.int64)
    monetary = np.zeros(users, dtype=np.float64)
    frequency = np.zeros(users, dtype=np.int32)
    orders = np.empty(n, dtype=np.int64)
    for g in range(users):
        total, comp, bought = 0.0, 0.0, 0
        for i in range(starts[g], starts[g + 1]):
            interactions[g] += event[i]
            if etype[i] == cart:
                last_cart[g] = max(last_cart[g], ts[i])
            if etype[i] == purchase:
                last_purchase[g] = max(last_purchase[g], ts[i])
                first_purchase[g] = ts[i] if bought == 0 else min(first_purchase[g], ts[i])
                orders[bought] = okey[i]
                bought += 1
            total, comp = _kahan(total, comp, spend[i])
        monetary[g] = total
        if bought:
            keys = np.sort(orders[:bought])
            frequency[g] = 1 + np.count_nonzero(keys[1:] != keys[:-1])
    return (
        uid[starts[:-1]], interactions, last_cart, last_purchase, first_purchase, monetary,
        frequency,
    )


@numba.njit(cache=True, nogil=True)
def _runs(keys: np.ndarray) -> np.ndarray:
    """Where each run of equal ``keys`` starts, and the end."""
    n = len(keys)
    starts = np.empty(n + 1, dtype=np.int64)
    runs = 0
    for i in range(n):
        if i == 0 or keys[i] != keys[i - 1]:
            starts[runs] = i
            runs += 1
    starts[runs] = n
    return starts[: runs + 1]


def category_shares(
    uid: np.ndarray, cat: np.ndarray, score: np.ndarray, n_categories: int
) -> dict[str, np.ndarray]:
    """Each user's share of ``score`` per category (uid, cat, share), by user then category,
    positive shares only: the category's sum over the user's total of category sums."""
    order = np.argsort(uid, kind="stable")
    return dict(zip(
        ("uid", "cat", "share"),
        _shares(
            uid[order], np.ascontiguousarray(cat[order], dtype=np.int64),
            np.ascontiguousarray(score[order], dtype=np.float64), n_categories,
        ),
        strict=True,
    ))


@numba.njit(cache=True, nogil=True)
def _shares(uid: np.ndarray, cat: np.ndarray, score: np.ndarray, n_categories: int) -> Any:
    starts = _runs(uid)
    out_uid = np.empty(len(uid), dtype=np.int64)
    out_cat = np.empty(len(uid), dtype=np.int32)
    out_share = np.empty(len(uid), dtype=np.float64)
    sums = np.zeros(n_categories, dtype=np.float64)
    comps = np.zeros(n_categories, dtype=np.float64)
    seen = np.zeros(n_categories, dtype=np.bool_)
    touched = np.empty(n_categories, dtype=np.int64)
    n = 0
    for g in range(len(starts) - 1):
        count = 0
        for i in range(starts[g], starts[g + 1]):
            c = cat[i]
            if not seen[c]:
                seen[c] = True
                touched[count] = c
                count += 1
            sums[c], comps[c] = _kahan(sums[c], comps[c], score[i])
        cats = np.sort(touched[:count])
        total, comp = 0.0, 0.0
        for c in cats:
            total, comp = _kahan(total, comp, sums[c])
        for c in cats:
            if total > 0.0 and sums[c] / total > 0.0:
                out_uid[n], out_cat[n], out_share[n] = uid[starts[g]], c, sums[c] / total
                n += 1
            sums[c], comps[c], seen[c] = 0.0, 0.0, False
    return out_uid[:n], out_cat[:n], out_share[:n]
