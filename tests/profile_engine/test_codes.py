"""compute/codes: user keys, stable int64 for the same id."""

from __future__ import annotations

import numpy as np
import pandas as pd

from profile_engine.compute import codes


def test_user_keys_are_stable_int64() -> None:
    keys = codes.user_keys(pd.Series(["u1", "u2", "u1"]))
    assert keys.dtype == np.int64 and keys[0] == keys[2] != keys[1]
    assert codes.user_keys(pd.Series(["u1"]))[0] == keys[0]


def test_user_keys_are_the_hash_of_each_id_as_text() -> None:
    # The keys of every source must agree (events, order lines, customers): ids as str or
    # as numbers, ASCII or not, hash as pandas hashes their text.
    ids = ["u1", "é", "日本", "x" * 300, "", "123", "a\u2028b"]
    text = pd.Series(ids, dtype=object).astype("str")
    want = pd.util.hash_pandas_object(text, index=False).to_numpy().view(np.int64)
    for given in (pd.Series(ids), pd.Series(ids, dtype="str"), pd.Index(ids)):
        np.testing.assert_array_equal(codes.user_keys(given), want)
    assert codes.user_keys(pd.Series([123]))[0] == want[5]


def test_a_packed_key_orders_rows_as_its_columns_do() -> None:
    rng = np.random.default_rng(4)
    a, b, c = rng.integers(0, 5, 500), rng.integers(0, 300, 500), rng.integers(0, 7, 500)
    key = codes.packed([(a, 5), (b, 300), (c, 7)])
    assert key is not None
    np.testing.assert_array_equal(np.argsort(key, kind="stable"), np.lexsort((c, b, a)))
    assert codes.packed([(a, 2**40), (b, 2**23)]) is None  # would overflow an int64
    assert codes.packed([(a, 2**40), (b, 2**22)]) is not None
