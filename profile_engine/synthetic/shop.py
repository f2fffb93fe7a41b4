"""Simulate a realistic synthetic shop: catalogue, customers, clickstream sessions and orders.

Deterministic for a seed (numpy ``Generator``): the same arguments give byte-identical event
files and identical tables. Users have strong category tastes, so personalised
recommendations differ visibly from global popularity. The order history reaches back
before the clickstream (logs are retained for weeks, orders for years), so RFM and the
``lapsed`` segment have something to find.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd

from profile_engine.synthetic.vocabulary import (
    ADJECTIVES,
    CATEGORIES,
    COUNTRIES,
    COUNTRY_WEIGHTS,
    FIRST_NAMES,
    LAST_NAMES,
)

DEFAULT_START = date(2026, 10, 1)
ORDER_HISTORY_DAYS = 180  # orders before the clickstream window
ANONYMOUS_SHARE = 0.15  # extra visitors who never registered (they cannot check out)
CHURNED_SHARE = 0.2  # customers with order history but no visits in the window
OUT_OF_STOCK_SHARE = 0.08
# Where the synthetic shop's product pages and images are (campaign exports link to them).
SHOP_URL = "https://shop.example.com"
OPT_IN_SHARE = 0.7
CANCELLED_SHARE = 0.07
SEARCH_SHARE = 0.35  # sessions that start with a search
CART_RATE = 0.18  # per in-stock product view
CONVERT_RATE = 0.55  # sessions with a cart that check out
EXPLORE_RATE = 0.12  # views outside the session's category


@dataclass
class Shop:
    products: pd.DataFrame
    customers: pd.DataFrame
    orders: pd.DataFrame
    order_items: pd.DataFrame
    events: (
        pd.DataFrame
    )  # ts (ms), user_id, session_id, event_type, product_id, quantity, price, query


def generate(users: int, products: int, days: int, seed: int, start: date = DEFAULT_START) -> Shop:
    if users < 1 or products < len(CATEGORIES) or days < 1:
        raise ValueError(f"need users >= 1, products >= {len(CATEGORIES)}, days >= 1")
    rng = np.random.default_rng(seed)
    start_ms = int(datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp() * 1000)
    cat = _products(rng, products)
    cust = _customers(rng, users, start_ms)
    tastes = _tastes(rng, users + int(users * ANONYMOUS_SHARE), cat)
    events, live_orders = _sessions(rng, cust, tastes, cat, days, start_ms)
    past_orders = _order_history(rng, cust, tastes, cat, start_ms)
    orders, items = _orders(rng, pd.concat([past_orders, live_orders], ignore_index=True), cat)
    return Shop(cat.drop(columns=["weight"]), cust, orders, items, events)


def _products(rng: np.random.Generator, n: int) -> pd.DataFrame:
    n_cat = len(CATEGORIES)
    # Every category gets products; bigger categories (by a Dirichlet draw) get more.
    share = rng.dirichlet(np.full(n_cat, 3.0))
    counts = 1 + rng.multinomial(n - n_cat, share)
    cat_idx = np.repeat(np.arange(n_cat), counts)
    medians = np.array([c[1] for c in CATEGORIES])[cat_idx]
    price = np.round(rng.lognormal(np.log(medians), 0.45), 0) - 0.01
    price = np.maximum(price, 0.99)
    adj = rng.integers(0, len(ADJECTIVES), n)
    noun = rng.integers(0, 5, n)
    names = [
        f"{ADJECTIVES[a]} {CATEGORIES[c][2][k]} {100 + i}"
        for i, (a, c, k) in enumerate(zip(adj, cat_idx, noun, strict=True))
    ]
    # Zipf popularity within each category (rank r -> 1 / r^0.9, ranks shuffled), times a
    # per-category appeal: a few bestsellers per category, a long tail, no global monopoly.
    rank = np.empty(n)
    for c in range(n_cat):
        members = np.flatnonzero(cat_idx == c)
        rank[members] = rng.permutation(len(members)) + 1
    appeal = rng.dirichlet(np.full(n_cat, 2.0))[cat_idx]
    weight = appeal / rank**0.9
    ids = [f"p{i:05d}" for i in range(n)]
    return pd.DataFrame(
        {
            "product_id": ids,
            "name": names,
            "category": [CATEGORIES[c][0] for c in cat_idx],
            "price": price.round(2),
            "in_stock": rng.random(n) >= OUT_OF_STOCK_SHARE,
            "image_url": [f"{SHOP_URL}/img/{p}.jpg" for p in ids],
            "page_url": [f"{SHOP_URL}/p/{p}" for p in ids],
            "weight": weight,
            "cat_idx": cat_idx,
        }
    )


def _customers(rng: np.random.Generator, n: int, start_ms: int) -> pd.DataFrame:
    first = rng.integers(0, len(FIRST_NAMES), n)
    last = rng.integers(0, len(LAST_NAMES), n)
    domain = np.where(rng.random(n) < 0.75, "example.com", "example.org")
    ids = [f"u{i:06d}" for i in range(n)]
    emails = [
        f"{FIRST_NAMES[f].lower()}.{LAST_NAMES[s].lower()}{i}@{d}"
        for i, (f, s, d) in enumerate(zip(first, last, domain, strict=True))
    ]
    created = start_ms - rng.integers(1, 730, n) * 86_400_000 - rng.integers(0, 86_400_000, n)
    return pd.DataFrame(
        {
            "customer_id": ids,
            "email": emails,
            "first_name": [FIRST_NAMES[f] for f in first],
            "country": rng.choice(COUNTRIES, n, p=COUNTRY_WEIGHTS),
            "created_at": pd.to_datetime(created, unit="ms", utc=True),
            "marketing_opt_in": rng.random(n) < OPT_IN_SHARE,
        }
    )


def _tastes(rng: np.random.Generator, n_users: int, cat: pd.DataFrame) -> np.ndarray:
    """Row-stochastic (users x categories): a Dirichlet over 1-3 favourite categories."""
    n_cat = len(CATEGORIES)
    global_share = np.bincount(cat["cat_idx"], weights=cat["weight"], minlength=n_cat)
    global_share = global_share / global_share.sum()
    favourites = rng.integers(1, 4, n_users)
    tastes = np.zeros((n_users, n_cat))
    for k in (1, 2, 3):
        rows = np.flatnonzero(favourites == k)
        picks = np.argsort(rng.random((len(rows), n_cat)) / (global_share + 0.02), axis=1)[:, :k]
        shares = rng.dirichlet(np.full(k, 1.5), len(rows))
        tastes[rows[:, None], picks] = shares
    mixed: np.ndarray = 0.92 * tastes + 0.08 * global_share
    return mixed


def _pick_products(rng: np.random.Generator, cats: np.ndarray, cat: pd.DataFrame) -> np.ndarray:
    """One product per entry of ``cats`` (category index), Zipf-weighted within the category."""
    out = np.empty(len(cats), dtype=np.int64)
    for c, members in cat.groupby("cat_idx").indices.items():
        rows = np.flatnonzero(cats == c)
        if len(rows):
            cdf = np.cumsum(cat["weight"].to_numpy()[members])
            idx = np.searchsorted(cdf, rng.random(len(rows)) * cdf[-1], side="right")
            out[rows] = members[np.minimum(idx, len(members) - 1)]
    return out


def _choose_rows(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """Inverse-CDF draw of one column per row of a row-stochastic matrix."""
    cdf = probs.cumsum(axis=1)
    u = rng.random(len(probs))[:, None] * cdf[:, -1:]
    picked: np.ndarray = np.minimum((cdf < u).sum(axis=1), probs.shape[1] - 1)
    return picked


def _sessions(
    rng: np.random.Generator,
    cust: pd.DataFrame,
    tastes: np.ndarray,
    cat: pd.DataFrame,
    days: int,
    start_ms: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    n_reg = len(cust)
    n_users = len(tastes)
    user_ids = np.array(
        list(cust["customer_id"])
        + [f"anon-{x:08x}" for x in rng.integers(0, 2**32, n_users - n_reg)],
        dtype=object,
    )
    rate = rng.lognormal(np.log(0.22), 0.8, n_users)  # sessions per day
    rate[:n_reg][rng.random(n_reg) < CHURNED_SHARE] = 0.0
    n_sess = rng.poisson(np.minimum(rate, 3.0) * days)
    s_user = np.repeat(np.arange(n_users), n_sess)
    n_s = len(s_user)
    # Diurnal start times: most sessions in the evening, few at night.
    hour = rng.choice(24, n_s, p=_diurnal())
    s_start = (
        start_ms
        + rng.integers(0, days, n_s) * 86_400_000
        + hour * 3_600_000
        + rng.integers(0, 3_600_000, n_s)
    )
    s_cat = _choose_rows(rng, tastes[s_user])
    n_views = np.minimum(1 + rng.geometric(0.3, n_s), 15)

    # Views: expand sessions to rows, then pick products (session category, some exploring).
    v_sess = np.repeat(np.arange(n_s), n_views)
    v_cat = s_cat[v_sess]
    explore = rng.random(len(v_sess)) < EXPLORE_RATE
    v_cat[explore] = rng.integers(0, len(CATEGORIES), int(explore.sum()))
    v_prod = _pick_products(rng, v_cat, cat)
    gaps = rng.exponential(40_000, len(v_sess)).astype(np.int64) + 2_000
    v_ts = s_start[v_sess] + _cumsum_within(gaps, v_sess)

    in_stock = cat["in_stock"].to_numpy()
    registered = s_user < n_reg
    carted = (rng.random(len(v_sess)) < CART_RATE) & in_stock[v_prod]
    c_idx = np.flatnonzero(carted)
    c_ts = v_ts[c_idx] + rng.integers(3_000, 30_000, len(c_idx))
    c_qty = 1 + rng.poisson(0.25, len(c_idx))
    # Only registered users check out; a converting session buys everything in its cart.
    converts = (rng.random(n_s) < CONVERT_RATE) & registered
    p_idx = c_idx[converts[v_sess[c_idx]]]
    p_keep = converts[v_sess[c_idx]]
    session_end = np.zeros(n_s, dtype=np.int64)
    np.maximum.at(session_end, v_sess, v_ts)
    p_ts = session_end[v_sess[p_idx]] + rng.integers(60_000, 300_000, len(p_idx))

    searching = np.flatnonzero(rng.random(n_s) < SEARCH_SHARE)
    nouns = [CATEGORIES[c][2] for c in s_cat[searching]]
    queries = [n[k].lower() for n, k in zip(nouns, rng.integers(0, 5, len(searching)), strict=True)]

    price = cat["price"].to_numpy()
    pid = cat["product_id"].to_numpy(dtype=object)
    sess_ids = np.array([f"s{x:012x}" for x in rng.integers(0, 2**48, n_s)], dtype=object)
    frames = [
        _event_frame(v_ts, v_sess, "view", pid[v_prod], None, None, None),
        _event_frame(
            c_ts,
            v_sess[c_idx],
            "add_to_cart",
            pid[v_prod[c_idx]],
            c_qty,
            price[v_prod[c_idx]],
            None,
        ),
        _event_frame(
            p_ts,
            v_sess[p_idx],
            "purchase",
            pid[v_prod[p_idx]],
            c_qty[p_keep],
            price[v_prod[p_idx]],
            None,
        ),
        _event_frame(s_start[searching] - 5_000, searching, "search", None, None, None, queries),
    ]
    events = pd.concat(frames, ignore_index=True)
    events["user_id"] = user_ids[s_user[events["sess"].to_numpy()]]
    events["session_id"] = sess_ids[events["sess"].to_numpy()]
    events = events.sort_values(
        ["ts", "session_id", "event_type"], kind="stable", ignore_index=True
    )

    live = pd.DataFrame(
        {
            "customer_id": user_ids[s_user[v_sess[p_idx]]],
            "occasion": sess_ids[v_sess[p_idx]],
            "ts": p_ts,
            "product": v_prod[p_idx],
            "quantity": c_qty[p_keep],
        }
    )
    return events.drop(columns=["sess"]), live


def _diurnal() -> np.ndarray:
    w = np.array(
        [1, 0.6, 0.4, 0.3, 0.3, 0.5, 1, 2, 3, 3, 3, 3, 4, 4, 3, 3, 3, 4, 6, 8, 9, 8, 5, 2.0]
    )
    share: np.ndarray = w / w.sum()
    return share


def _cumsum_within(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Cumulative sum restarting at each new group (groups sorted ascending)."""
    total = np.cumsum(values)
    starts = np.r_[0, np.flatnonzero(np.diff(groups)) + 1]
    offset = np.repeat(total[starts] - values[starts], np.diff(np.r_[starts, len(values)]))
    within: np.ndarray = total - offset
    return within


def _event_frame(
    ts: np.ndarray, sess: np.ndarray, etype: str, product: Any, qty: Any, price: Any, query: Any
) -> pd.DataFrame:
    n = len(ts)
    return pd.DataFrame(
        {
            "ts": np.asarray(ts, dtype=np.int64),
            "sess": np.asarray(sess, dtype=np.int64),
            "event_type": etype,
            "product_id": product if product is not None else None,
            "quantity": np.asarray(qty, dtype=np.float64)
            if qty is not None
            else np.full(n, np.nan),
            "price": np.asarray(price, dtype=np.float64)
            if price is not None
            else np.full(n, np.nan),
            "query": query if query is not None else None,
        }
    )


def _order_history(
    rng: np.random.Generator,
    cust: pd.DataFrame,
    tastes: np.ndarray,
    cat: pd.DataFrame,
    start_ms: int,
) -> pd.DataFrame:
    """Orders placed before the clickstream window (uniform over ORDER_HISTORY_DAYS)."""
    n = len(cust)
    n_orders = rng.poisson(1.4, n)
    o_user = np.repeat(np.arange(n), n_orders)
    epoch = pd.Timestamp(0, tz="UTC")
    created = ((cust["created_at"] - epoch) // pd.Timedelta(milliseconds=1)).to_numpy()[o_user]
    earliest = np.maximum(created, start_ms - ORDER_HISTORY_DAYS * 86_400_000)
    o_ts = earliest + (rng.random(len(o_user)) * (start_ms - earliest)).astype(np.int64)
    lines = 1 + rng.poisson(0.6, len(o_user))
    l_order = np.repeat(np.arange(len(o_user)), lines)
    l_prod = _pick_products(rng, _choose_rows(rng, tastes[o_user[l_order]]), cat)
    return pd.DataFrame(
        {
            "customer_id": cust["customer_id"].to_numpy(dtype=object)[o_user[l_order]],
            "occasion": np.array([f"h{i}" for i in range(len(o_user))], dtype=object)[l_order],
            "ts": o_ts[l_order],
            "product": l_prod,
            "quantity": 1 + rng.poisson(0.2, len(l_order)),
        }
    )


def _orders(
    rng: np.random.Generator, lines: pd.DataFrame, cat: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    lines = lines.sort_values(["ts", "occasion", "product"], kind="stable", ignore_index=True)
    lines = lines.drop_duplicates(["occasion", "product"], ignore_index=True)
    occasion_codes, occasions = pd.factorize(lines["occasion"], sort=False)
    order_id = 1000 + occasion_codes.astype(np.int64)
    price = cat["price"].to_numpy()[lines["product"].to_numpy()]
    items = pd.DataFrame(
        {
            "order_item_id": np.arange(1, len(lines) + 1, dtype=np.int64),
            "order_id": order_id,
            "product_id": cat["product_id"].to_numpy(dtype=object)[lines["product"].to_numpy()],
            "quantity": lines["quantity"].to_numpy(dtype=np.int64),
            "unit_price": price,
        }
    )
    first = lines.groupby(occasion_codes).head(1)
    totals = (items["quantity"] * items["unit_price"]).groupby(items["order_id"]).sum()
    orders = pd.DataFrame(
        {
            "order_id": 1000 + np.arange(len(occasions), dtype=np.int64),
            "customer_id": first["customer_id"].to_numpy(dtype=object),
            "created_at": pd.to_datetime(first["ts"].to_numpy(), unit="ms", utc=True),
            "status": np.where(
                rng.random(len(occasions)) < CANCELLED_SHARE, "cancelled", "completed"
            ),
        }
    )
    orders["total"] = totals.reindex(orders["order_id"]).to_numpy().round(2)
    return orders, items
