"""Find event files (local or S3; Hive dt= partitions or Amazon Data Firehose's YYYY/MM/DD/HH
folders) and read one file's bytes."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import fsspec
from fsspec.utils import infer_compression
from isal import igzip

JSON_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".ndjson", ".ndjson.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
# Folders below the event root that hold no events: Firehose's error output (its default
# names, and the usual ErrorOutputPrefix) and Redshift COPY manifests. They use the same
# YYYY/MM/DD/HH layout and suffix-less names as the events, so only the folder tells them apart.
ERROR_PREFIXES = ("processing-failed", "format-conversion-failed", "errors", "manifests")
GZIP_MAGIC = b"\x1f\x8b"

_DT = re.compile(r"(?:^|/)dt=(\d{4}-\d{2}-\d{2})(?:/|$)")
# An object directly in a Firehose hour folder: <prefix>YYYY/MM/DD/HH/<name>.
_HOUR_FOLDER = re.compile(r"(?:^|/)(\d{4})/(\d{2})/(\d{2})/(\d{2})/[^/]+$")
# A file name suffix (.txt, .snappy, .zip, ...). Firehose's own names have none: a dot in one
# comes from the stream name and is followed by the -version-timestamp-uuid tail.
_SUFFIX = re.compile(r"\.[a-z0-9]{1,10}$")


@dataclass(frozen=True)
class EventFile:
    path: str  # full URL or local path
    relative: str  # below the root, for reports and quarantine names
    fmt: str  # "json" or "parquet"
    # The UTC day of the Hive partition dt=YYYY-MM-DD, or of the Firehose hour folder
    # YYYY/MM/DD/HH (``arrival``: the day Firehose received the events, not their ts's day).
    day: date | None
    arrival: bool = False


def storage_options(url: str, s3_endpoint_url: str | None) -> dict[str, Any]:
    """fsspec options for ``url``: the S3 endpoint (moto locally), nothing for local paths."""
    if url.startswith(("s3://", "s3a://")) and s3_endpoint_url:
        return {"endpoint_url": s3_endpoint_url}
    return {}


def error_prefixes(names: str) -> tuple[str, ...]:
    """The folder names of a comma-separated setting ("" skips none)."""
    return tuple(n.strip().strip("/") for n in names.split(",") if n.strip().strip("/"))


def list_files(
    root: str,
    options: dict[str, Any],
    until: date | None = None,
    skip: Iterable[str] = ERROR_PREFIXES,
) -> list[EventFile]:
    """Event files under ``root`` in path order: files with a JSON Lines or Parquet suffix,
    and suffix-less objects (or ``.gz`` ones) in a Firehose hour folder, which are JSON
    Lines, gzip or not. Anything below a folder named in ``skip`` is not an event file, nor
    is any other object (markers, Firehose objects of another suffix). Files dated after
    ``until`` are skipped (see ``_after``)."""
    fs, path = fsspec.core.url_to_fs(root, **options)
    if not fs.exists(path):
        raise FileNotFoundError(f"event root {root} does not exist")
    found = [path] if fs.isfile(path) else sorted(fs.find(path))
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    skipped = {s.lower() for s in skip}
    files = []
    for p in found:
        rel = p[len(path) :].lstrip("/") or p.rsplit("/", 1)[-1]
        *folders, name = rel.lower().split("/")
        if skipped.intersection(folders):
            continue
        day, arrival = _day(rel)
        fmt = _format(name, hourly=arrival)
        if fmt is None or _after(day, arrival, until):
            continue
        full = p if protocol in ("file", "local") else f"{protocol}://{p}"
        files.append(EventFile(full, rel, fmt, day, arrival))
    return files


def _day(relative: str) -> tuple[date | None, bool]:
    """The day of a dt= partition, else of a Firehose hour folder (then True), else None."""
    if match := _DT.search(relative):
        return date.fromisoformat(match.group(1)), False
    if match := _HOUR_FOLDER.search(relative):
        year, month, day, hour = map(int, match.groups())
        try:
            return (date(year, month, day), True) if hour < 24 else (None, False)
        except ValueError:  # not a date: 2026/13/45/10
            return None, False
    return None, False


def _format(name: str, hourly: bool) -> str | None:
    """The format of a lower-cased file ``name``: "json", "parquet" or None (no event file)."""
    if name.endswith(JSON_SUFFIXES):
        return "json"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if not hourly or name.startswith((".", "_")):  # hidden files and _SUCCESS-like markers
        return None
    # Firehose writes JSON Lines without a suffix; with GZIP compression it appends .gz.
    stem = name.removesuffix(".gz")
    return None if not stem or _SUFFIX.search(stem) else "json"


def _after(day: date | None, arrival: bool, until: date | None) -> bool:
    """Whether a file of ``day`` cannot hold events up to the as-of day ``until``. A dt=
    partition holds the events of that UTC day. A Firehose hour folder holds what arrived in
    that UTC hour, and events carry the client's ts, which can be earlier (late uploads,
    buffering, clock skew): only folders strictly after the as-of day + 1 day are left out;
    events of the as-of day that arrived later still are read, and any event after the
    as-of is dropped by the job anyway (partitions.until)."""
    if until is None or day is None:
        return False
    return day > until + timedelta(days=1 if arrival else 0)


def read_bytes(path: str, options: dict[str, Any]) -> bytes:
    """The content of one file, gunzipped when its suffix says so, or, without a compression
    suffix, when it starts with gzip's magic bytes (Firehose with GZIP compression and no
    .gz extension). ISA-L gunzips (``isal``: 3.5x Python's gzip module, whose inflate was a
    third of a file's parse); several gzip members are read one after the other, as gzip
    reads them."""
    compression = infer_compression(path)
    if compression not in (None, "gzip"):
        with fsspec.open(path, "rb", compression=compression, **options) as f:
            other: bytes = f.read()
        return other
    with fsspec.open(path, "rb", **options) as f:
        data: bytes = f.read()
    if compression == "gzip" or data.startswith(GZIP_MAGIC):
        unzipped: bytes = igzip.decompress(data)
        return unzipped
    return data
