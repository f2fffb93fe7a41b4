"""A generation's items as the files DynamoDB's ImportTable reads: DynamoDB JSON, gzip, S3.

One line per item, ``{"Item": {...}}`` in the low-level attribute-value format with binary
values in base64 (the format DynamoDB's own exports write), so the imported items are the
very items the writes path puts (generation/layout.py builds both). Each worker task writes
the files of its part (``<part>-<n>.json.gz``, cut every FILE_BYTES of JSON): names and
bytes depend only on the part's items, so a task Dask runs again overwrites its own files
instead of adding duplicates.
"""

from __future__ import annotations

import base64
import gzip
import io
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from generation import layout
from profile_engine.errors import PublishError

__all__ = ["FILE_BYTES", "Staged", "Staging", "item_line", "stage", "staging_for"]

# JSON bytes per file before gzip. AWS advises many mid-sized objects (they are imported in
# parallel; at most 50,000 per import): 64 MB of JSON is ~10-20 MB gzip, and bounds a
# task's buffer.
FILE_BYTES = 64 * 1024 * 1024
# gzip level 6 (zlib's default) compresses protobuf-in-base64 within a few % of level 9
# at a fraction of its CPU time.
GZIP_LEVEL = 6


@dataclass(frozen=True)
class Staging:
    """Where one generation's import files go (sent with every task: small, picklable)."""

    bucket: str
    prefix: str  # key prefix of this generation's files, ending in "/"
    region: str
    endpoint_url: str | None

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def staging_for(url: str, generation: str, region: str, endpoint_url: str | None) -> Staging:
    """The staging place of ``generation`` under ``url`` (s3://bucket[/prefix])."""
    if not url.startswith("s3://"):
        raise PublishError(f"import staging {url!r} is not an s3://bucket/prefix URL")
    bucket, _, prefix = url[len("s3://"):].partition("/")
    prefix = prefix.strip("/")
    return Staging(bucket, f"{prefix}/{generation}/" if prefix else f"{generation}/",
                   region, endpoint_url)


def _attribute(value: dict[str, Any]) -> dict[str, Any]:
    ((kind, raw),) = value.items()
    if kind == "B":
        return {"B": base64.b64encode(raw).decode("ascii")}
    return {kind: raw}


def item_line(item: layout.Item) -> bytes:
    """One item as a DynamoDB JSON line (the items of layout.py hold S, N and B values)."""
    return orjson.dumps({"Item": {k: _attribute(v) for k, v in item.items()}}) + b"\n"


@dataclass
class Staged:
    """What one part wrote: items per section, JSON bytes (what an import is billed for),
    gzip bytes, files, and when its first file was started (epoch seconds)."""

    items: dict[str, int] = field(default_factory=dict)
    json_bytes: int = 0
    gzip_bytes: int = 0
    files: int = 0
    started_at: float = 0.0


class _Files:
    """gzip files of one part, each put to S3 once it holds FILE_BYTES of JSON."""

    def __init__(self, s3: Any, staging: Staging, part: str, out: Staged) -> None:
        self._s3, self._staging, self._part, self._out = s3, staging, part, out
        self._buffer: io.BytesIO | None = None
        self._gzip: gzip.GzipFile | None = None
        self._size = 0

    def add(self, line: bytes) -> None:
        if self._gzip is None:
            self._buffer = io.BytesIO()
            # mtime 0: the same items make the same bytes, whichever run or worker.
            self._gzip = gzip.GzipFile(fileobj=self._buffer, mode="wb",
                                       compresslevel=GZIP_LEVEL, mtime=0)
            self._size = 0
            if not self._out.started_at:
                self._out.started_at = time.time()
        self._gzip.write(line)
        self._size += len(line)
        self._out.json_bytes += len(line)
        if self._size >= FILE_BYTES:
            self.close()

    def close(self) -> None:
        if self._gzip is None or self._buffer is None:
            return
        self._gzip.close()
        body = self._buffer.getvalue()
        key = f"{self._staging.prefix}{self._part}-{self._out.files:04d}.json.gz"
        self._s3.put_object(Bucket=self._staging.bucket, Key=key, Body=body)
        self._out.files += 1
        self._out.gzip_bytes += len(body)
        self._gzip = self._buffer = None


def stage(s3: Any, staging: Staging, part: str,
          sections: Iterable[tuple[str, Iterable[layout.Item]]]) -> Staged:
    """Write the items of ``sections`` as ``part``'s import files; what was written."""
    out = Staged()
    files = _Files(s3, staging, part, out)
    for name, items in sections:
        n = 0
        for item in items:
            files.add(item_line(item))
            n += 1
        out.items[name] = out.items.get(name, 0) + n
    files.close()
    return out


def s3_client(region: str, endpoint_url: str | None = None) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("s3", region_name=region, endpoint_url=endpoint_url,
                        config=Config(retries={"max_attempts": 5, "mode": "adaptive"}))


def delete_files(s3: Any, staging: Staging) -> int:
    """Delete every file under the staging prefix; how many."""
    deleted = 0
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=staging.bucket, Prefix=staging.prefix
    ):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:  # one page is at most 1,000 keys: DeleteObjects' own limit
            s3.delete_objects(Bucket=staging.bucket, Delete={"Objects": keys, "Quiet": True})
            deleted += len(keys)
    return deleted
