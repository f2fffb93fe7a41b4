"""Find event files (local or S3, Hive dt= partitions) and read one file's bytes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

import fsspec

JSON_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".ndjson", ".ndjson.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")

_DT = re.compile(r"(?:^|/)dt=(\d{4}-\d{2}-\d{2})(?:/|$)")


@dataclass(frozen=True)
class EventFile:
    path: str  # full URL or local path
    relative: str  # below the root, for reports and quarantine names
    fmt: str  # "json" or "parquet"
    day: date | None  # from the Hive partition dt=YYYY-MM-DD, when there is one


def storage_options(url: str, s3_endpoint_url: str | None) -> dict[str, Any]:
    """fsspec options for ``url``: the S3 endpoint (moto locally), nothing for local paths."""
    if url.startswith(("s3://", "s3a://")) and s3_endpoint_url:
        return {"endpoint_url": s3_endpoint_url}
    return {}


def list_files(root: str, options: dict[str, Any], until: date | None = None) -> list[EventFile]:
    """Event files under ``root`` in path order; partitions dated after ``until`` are skipped
    (a dt= partition holds the events of that UTC day, so it cannot matter for an earlier as-of)."""
    fs, path = fsspec.core.url_to_fs(root, **options)
    if not fs.exists(path):
        raise FileNotFoundError(f"event root {root} does not exist")
    found = [path] if fs.isfile(path) else sorted(fs.find(path))
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    files = []
    for p in found:
        name = p.lower()
        fmt = (
            "json"
            if name.endswith(JSON_SUFFIXES)
            else "parquet"
            if name.endswith(PARQUET_SUFFIXES)
            else None
        )
        if fmt is None:
            continue
        rel = p[len(path) :].lstrip("/") or p.rsplit("/", 1)[-1]
        match = _DT.search(rel)
        day = date.fromisoformat(match.group(1)) if match else None
        if until is not None and day is not None and day > until:
            continue
        full = p if protocol in ("file", "local") else f"{protocol}://{p}"
        files.append(EventFile(full, rel, fmt, day))
    return files


def read_bytes(path: str, options: dict[str, Any]) -> bytes:
    """The content of one file, gunzipped when its suffix says so."""
    with fsspec.open(path, "rb", compression="infer", **options) as f:
        data: bytes = f.read()
    return data
