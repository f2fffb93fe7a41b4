"""Turn replica rows into coded frames: order lines into interactions, customers into people."""

from __future__ import annotations

import numpy as np
import pandas as pd

from profile_engine.compute import codes
from profile_engine.compute.catalog import Catalog

# Orders in these states bought nothing (compared lower-case).
CANCELLED_STATUSES = frozenset({"cancelled", "canceled", "refunded", "failed"})

# Who a user is. ``prio`` orders the sources when one user comes from several:
# the customers table (0) beats event logs and order lines (1), which only know the id.
PEOPLE_DTYPES: dict[str, str] = {
    "uid": "int64",
    "user_id": "str",
    "email": "str",
    "first_name": "str",
    "country": "str",
    "opt_in": "bool",
    "registered": "bool",
    "prio": "int8",
}


def order_keys(order_id: pd.Series) -> np.ndarray:
    """Integer order ids as they are; any other id type through the user-key hash."""
    if pd.api.types.is_integer_dtype(order_id):
        keys: np.ndarray = order_id.to_numpy(dtype=np.int64)
        return keys
    return codes.user_keys(order_id)


def order_interactions(lines: pd.DataFrame, catalog: Catalog) -> pd.DataFrame:
    """Completed order lines as purchase interactions (``src`` = order).

    ``lines`` is an order-line read (order_id, product_id, quantity, unit_price,
    customer_id, created_at ms, status) or an orders-only read (total instead of product
    columns): those rows get product code -1 and count for RFM only.
    """
    status = lines["status"].astype("str").str.lower()
    keep = ~status.isin(CANCELLED_STATUSES).to_numpy(bool) & (lines["created_at"].to_numpy() >= 0)
    lines = lines[keep]
    n = len(lines)
    if "product_id" in lines:
        pcode = catalog.codes(lines["product_id"])
        qty = lines["quantity"].to_numpy(dtype=np.int64)
        price = lines["unit_price"].to_numpy(dtype=np.float64)
        price = np.where(np.isnan(price) & (pcode >= 0), catalog.price[np.maximum(pcode, 0)], price)
    else:
        pcode = np.full(n, -1, dtype=np.int32)
        qty = np.ones(n, dtype=np.int64)
        price = lines["total"].to_numpy(dtype=np.float64)
    return pd.DataFrame(
        {
            "uid": codes.user_keys(lines["customer_id"]),
            "pcode": pcode,
            "etype": np.full(n, codes.PURCHASE, dtype=np.int8),
            "ts": lines["created_at"].to_numpy(dtype=np.int64),
            "qty": qty,
            "price": price,
            "okey": order_keys(lines["order_id"]),
            "src": np.full(n, codes.SRC_ORDER, dtype=np.int8),
        }
    ).astype(codes.INTERACTION_DTYPES)


def order_users(lines: pd.DataFrame) -> pd.DataFrame:
    """The customer ids behind order lines (used only when there is no customers table)."""
    ids = lines["customer_id"].drop_duplicates()
    return pd.DataFrame({"uid": codes.user_keys(ids), "user_id": ids.to_numpy()}).astype(
        codes.USER_DTYPES
    )


def people_from_customers(customers: pd.DataFrame) -> pd.DataFrame:
    n = len(customers)
    return pd.DataFrame(
        {
            "uid": codes.user_keys(customers["customer_id"]),
            "user_id": customers["customer_id"].to_numpy(),
            "email": customers["email"].to_numpy(),
            "first_name": customers["first_name"].to_numpy(),
            "country": customers["country"].to_numpy(),
            "opt_in": customers["marketing_opt_in"].to_numpy(dtype=bool),
            "registered": np.ones(n, dtype=bool),
            "prio": np.zeros(n, dtype=np.int8),
        }
    ).astype(PEOPLE_DTYPES)


def people_from_users(users: pd.DataFrame) -> pd.DataFrame:
    """Users known only by id (event logs, order lines): no contact data, no consent."""
    n = len(users)
    # The ids stay the strings they are (to_numpy would make a Python str of each, 5x slower).
    blank = pd.array(np.full(n, "", dtype=object), dtype=PEOPLE_DTYPES["email"])
    return pd.DataFrame(
        {
            "uid": users["uid"].to_numpy(),
            "user_id": users["user_id"].array,
            "email": blank,
            "first_name": blank,
            "country": blank,
            "opt_in": np.zeros(n, dtype=bool),
            "registered": np.zeros(n, dtype=bool),
            "prio": np.ones(n, dtype=np.int8),
        }
    ).astype(PEOPLE_DTYPES)


def dedupe_people(people: pd.DataFrame) -> pd.DataFrame:
    """One row per user, from the best source (all rows of a user are in this partition)."""
    return (
        people.sort_values(["uid", "prio"], kind="stable")
        .drop_duplicates("uid", keep="first")
        .reset_index(drop=True)
    )
