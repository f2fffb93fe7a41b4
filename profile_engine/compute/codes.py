"""Integer codes the whole job computes on: user keys, event types, their weights, frame dtypes."""

from __future__ import annotations

import numpy as np
import pandas as pd

# Event type codes. Searches carry no product: counted, then dropped before the shuffle.
VIEW, ADD_TO_CART, PURCHASE, SEARCH = 0, 1, 2, 3
EVENT_TYPES: dict[str, int] = {
    "view": VIEW,
    "add_to_cart": ADD_TO_CART,
    "purchase": PURCHASE,
    "search": SEARCH,
}
EVENT_NAMES: dict[int, str] = {v: k for k, v in EVENT_TYPES.items()}
# How much one interaction says about taste: a purchase is worth five views.
EVENT_WEIGHTS = np.array([1.0, 3.0, 5.0, 0.0])

# Where an interaction row came from: the clickstream or an order line of the replica.
SRC_EVENT, SRC_ORDER = 0, 1

DAY_MS = 86_400_000

# Every interaction row, whatever its source, has exactly these columns: numbers only, so the
# one shuffle by user moves no Python objects and no strings (DESIGN: measured facts).
INTERACTION_DTYPES: dict[str, str] = {
    "uid": "int64",  # user_key(user_id)
    "pcode": "int32",  # position in the catalogue; -1: order line without a known product
    "etype": "int8",
    "ts": "int64",  # epoch milliseconds, UTC
    "qty": "int32",
    "price": "float64",  # unit price; catalogue price when the event has none
    "okey": "int64",  # order id (orders) or session key (events): one purchase occasion
    "src": "int8",
}
USER_DTYPES: dict[str, str] = {"uid": "int64", "user_id": "str"}


def empty_frame(dtypes: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in dtypes.items()})


def user_keys(ids: pd.Series | pd.Index) -> np.ndarray:
    """64-bit key of each user id string, the same in every process.

    pandas' hash is keyed with a fixed constant, so a worker reading events and another
    reading customers agree without exchanging a dictionary. Collisions are negligible
    (about 3e-4 for 10^8 users) and would merge two users' profiles, not fail the run.
    """
    values = pd.Series(np.asarray(ids, dtype=object)).astype("str")
    keys: np.ndarray = pd.util.hash_pandas_object(values, index=False).to_numpy().view(np.int64)
    return keys
