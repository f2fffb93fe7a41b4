"""compute/codes: user keys, stable int64 for the same id."""

from __future__ import annotations

import numpy as np
import pandas as pd

from profile_engine.compute import codes


def test_user_keys_are_stable_int64() -> None:
    keys = codes.user_keys(pd.Series(["u1", "u2", "u1"]))
    assert keys.dtype == np.int64 and keys[0] == keys[2] != keys[1]
    assert codes.user_keys(pd.Series(["u1"]))[0] == keys[0]
