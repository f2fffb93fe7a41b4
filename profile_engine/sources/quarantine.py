"""Write the rejected lines of one input file, with their reasons, under a quarantine root."""

from __future__ import annotations

import json
import re
from typing import Any

import fsspec


def write_rejected(
    root: str, source: str, rows: list[tuple[str, str]], options: dict[str, Any]
) -> None:
    """(reason, line) ``rows`` of input file ``source`` as JSON Lines under ``root``."""
    # Firehose's objects have no suffix, or only .gz.
    name = re.sub(r"(\.(jsonl|json|ndjson|parquet|pq))?(\.gz)?$", "", source) + ".rejected.jsonl"
    fs, path = fsspec.core.url_to_fs(f"{root.rstrip('/')}/{name}", **options)
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    with fs.open(path, "w") as f:
        for reason, line in rows:
            f.write(json.dumps({"reason": reason, "source": source, "line": line}) + "\n")
