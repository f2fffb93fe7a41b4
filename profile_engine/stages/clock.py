"""The run's reference time: ISO-8601 in settings and reports, epoch milliseconds inside."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd


def parse_as_of(value: str) -> int:
    """ISO-8601 (naive means UTC) -> epoch ms."""
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.value // 1_000_000)


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def now_ms() -> int:
    return int(pd.Timestamp.now("UTC").value // 10**6)
