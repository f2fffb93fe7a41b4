"""Integer codes the whole job computes on: user keys, event types, their weights, frame dtypes."""

from __future__ import annotations

import numpy as np
import pandas as pd

import clickstream

# How much one interaction says about taste: a purchase is worth five views. Only the
# clickstream's modelled types have a weight: the others are counted, then dropped before
# the shuffle (sources/validation.py), so no frame of the job holds them.
WEIGHTS: dict[str, float] = {"view": 1.0, "add_to_cart": 3.0, "purchase": 5.0}
if set(WEIGHTS) != set(clickstream.MODELLED_TYPES):
    raise RuntimeError(
        f"event weights {sorted(WEIGHTS)} do not match the modelled event types "
        f"{sorted(clickstream.MODELLED_TYPES)} of the clickstream contract"
    )

# Event type codes: every type of the clickstream contract. The modelled ones come first, in
# the order of their weight: the largest code of a user's rows for a product is their
# strongest interaction with it (profiles.user_items). The others follow in contract order.
EVENT_TYPES: dict[str, int] = {
    name: code
    for code, name in enumerate(
        [
            *sorted(clickstream.MODELLED_TYPES, key=WEIGHTS.__getitem__),
            *(t for t in clickstream.EVENT_TYPES if t not in WEIGHTS),
        ]
    )
}
EVENT_NAMES: dict[int, str] = {v: k for k, v in EVENT_TYPES.items()}
VIEW, ADD_TO_CART, PURCHASE = (EVENT_TYPES[t] for t in ("view", "add_to_cart", "purchase"))
# The codes that enter the model, and those of the types about one product (product_id
# required; the others, search and impression, carry a query or a list instead).
MODELLED = np.array([EVENT_TYPES[t] for t in clickstream.MODELLED_TYPES], dtype=np.int8)
PRODUCT_EVENTS = np.array([EVENT_TYPES[t] for t in clickstream.PRODUCT_TYPES], dtype=np.int8)
# Weight by code (0 for the types that never reach a model).
EVENT_WEIGHTS = np.array([WEIGHTS.get(name, 0.0) for name in EVENT_TYPES])

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


def find_sorted(sorted_unique: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each key's position in ``sorted_unique`` (non-empty) and whether the key is there;
    the position of a missing key is some valid index: mask it with the second array."""
    at = np.minimum(np.searchsorted(sorted_unique, keys), len(sorted_unique) - 1)
    return at, sorted_unique[at] == keys


def user_keys(ids: pd.Series | pd.Index) -> np.ndarray:
    """64-bit key of each user id string, the same in every process.

    pandas' hash is keyed with a fixed constant, so a worker reading events and another
    reading customers agree without exchanging a dictionary. Collisions are negligible
    (about 3e-4 for 10^8 users) and would merge two users' profiles, not fail the run.
    """
    values = np.asarray(ids, dtype=object)
    if pd.api.types.infer_dtype(values, skipna=False) == "string":
        # The hash hash_pandas_object gives str values, without its copies to a str Series
        # and back, nor its factorizing (callers hash distinct ids): a fifth of the time.
        hashed: np.ndarray = pd.util.hash_array(values, categorize=False).view(np.int64)
        return hashed
    text = pd.Series(values).astype("str")  # numbers, say: their str is the id
    keys: np.ndarray = pd.util.hash_pandas_object(text, index=False).to_numpy().view(np.int64)
    return keys


def packed(parts: list[tuple[np.ndarray, int]]) -> np.ndarray | None:
    """One int64 per row ordering the rows as the ``(values, size)`` parts would, most
    significant first (``values`` in [0, size)): ``((v0 * size1 + v1) * size2 + v2)...``,
    so one argsort replaces a lexsort by several columns (a third to a seventh of its
    time). None when the sizes' product does not fit in an int64."""
    span = 1
    for _, size in parts:
        span *= max(int(size), 1)
    if span >= 2**63:
        return None
    key = np.zeros(len(parts[0][0]) if parts else 0, dtype=np.int64)
    for values, size in parts:
        key *= max(int(size), 1)
        key += values
    return key
