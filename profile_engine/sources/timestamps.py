"""Epoch milliseconds of parsed datetimes, exact and for any date pandas can hold.

pandas 3 parses text to microseconds, so far dates (year 9999, a database's "never") parse;
subtracting the nanosecond epoch from them overflows, and a double of nanoseconds since 1970
has no room for the last digits (a .146 s reads as .1459998, then truncates a millisecond
down). These work in the index's own unit instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

_PER_MS = {"ms": 1, "us": 1_000, "ns": 1_000_000}


def epoch_ms(ticks: np.ndarray, unit: str) -> np.ndarray:
    """Epoch ms (float, sub-millisecond as the fraction) of int64 epoch ``unit`` ticks."""
    if unit == "s":
        seconds: np.ndarray = ticks * 1000.0
        return seconds
    per_ms = _PER_MS[unit]
    whole, part = np.divmod(ticks, per_ms)
    ms: np.ndarray = whole.astype(float) + part / per_ms
    return ms


def datetimes_ms(ts: pd.DatetimeIndex) -> np.ndarray:
    """Epoch ms (float, NaN for NaT) of timezone-aware or UTC datetimes."""
    out = epoch_ms(ts.asi8, ts.unit)
    out[np.asarray(ts.isna())] = np.nan
    return out


def iso_ms(strings: Any) -> np.ndarray:
    """Epoch ms (float, NaN when unparseable) of ISO-8601 strings, read by pandas."""
    ts = pd.to_datetime(strings, utc=True, errors="coerce", format="ISO8601")
    return datetimes_ms(pd.DatetimeIndex(ts))


def datetimes_whole_ms(ts: pd.DatetimeIndex, missing: int) -> np.ndarray:
    """Epoch ms (int64, rounded down; ``missing`` for NaT)."""
    ticks = ts.asi8
    ms = ticks * 1000 if ts.unit == "s" else ticks // _PER_MS[ts.unit]
    out: np.ndarray = np.where(np.asarray(ts.isna()), missing, ms).astype(np.int64)
    return out
