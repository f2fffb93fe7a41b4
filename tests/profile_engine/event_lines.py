"""Event lines for the sources tests: a valid event with fields overridden, files of lines."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

ISO = "2026-09-20T10:00:00Z"
ISO_MS = 1_789_898_400_000


def ev(**fields: object) -> str:
    return json.dumps(
        {
            "ts": ISO,
            "user_id": "u1",
            "session_id": "s1",
            "event_type": "view",
            "product_id": "A",
            **fields,
        }
    )


def write_lines(path: Path, lines: list[str], gz: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if gz else data)
