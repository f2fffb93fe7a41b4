"""Amazon Data Firehose objects for the sources tests: keys as Firehose names them, the
service's EventRecord lines, Firehose's error output, a root of objects on disk."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from clickstream import EventRecord

HOUR = datetime(2026, 9, 20, 10, tzinfo=timezone.utc)
TS = int(HOUR.timestamp() * 1000)


def key(hour: datetime, n: int, stream: str = "shop-events", suffix: str = "") -> str:
    """A Firehose object key below the prefix: YYYY/MM/DD/HH/<stream>-<version>-<time>-<uuid>."""
    return f"{hour:%Y/%m/%d/%H}/{stream}-1-{hour:%Y-%m-%d-%H-%M-%S}-{uuid.UUID(int=n)}{suffix}"


def record(
    n: int,
    *,
    ts: int | None = None,
    event_type: str = "view",
    user_id: str = "u1",
    session_id: str = "s1",
    product_id: str = "A",
    **more: Any,
) -> EventRecord:
    """Event ``n`` as the service writes it (ts: TS + n ms unless given)."""
    return EventRecord(
        f"e{n}", TS + n if ts is None else ts, event_type, user_id, session_id, product_id, **more
    )


def body(records: list[EventRecord]) -> bytes:
    return b"".join(r.to_json_line() for r in records)


# Firehose's error output: one JSON object per failed record, in the same hour layout.
FAILED = json.dumps(
    {"attemptsMade": 4, "errorCode": "Lambda.FunctionError", "rawData": "eyJ0cyI6IDF9"}
).encode()


def write_objects(root: Path, objects: dict[str, bytes]) -> None:
    for name, data in objects.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
