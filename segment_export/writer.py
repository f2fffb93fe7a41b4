"""Write one segment's consenting members to S3 or a local path, atomically and repeatably.

Members stream page by page into a spooled file (memory flat in the segment size), which
is then uploaded under a temporary key and copied to the final key only when complete, so
a campaign tool never reads half an export. The final name depends only on segment,
generation and format, and the bytes only on the members: a re-run rewrites the same file.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from generation import SegmentMember
from segment_export.errors import InvalidExport
from segment_export.formats import FORMATS, Encoder
from segment_export.recommended import ordered

# Spool this much in memory before the export moves to a temporary file on disk.
SPOOL_BYTES = 8 * 1024 * 1024
# CopyObject copies at most 5 GB in one request (S3 limit); larger exports use the
# managed multipart copy.
COPY_OBJECT_LIMIT = 5 * 1024**3


@dataclass(frozen=True)
class ExportRequest:
    segment: str
    format: str
    # s3://bucket/prefix or a local directory; the file goes to
    # <destination>/<segment>/<generation>/<format>.<extension>
    destination: str
    # SES only: the contact-list topic the members are opted in to ("" for none).
    topic: str = ""


@dataclass(frozen=True)
class ExportResult:
    uri: str
    generation: str
    members: int
    # Members left out: no marketing consent or no email address.
    skipped: int
    bytes: int
    import_format: str


def slug(name: str) -> str:
    """A segment name as one safe path component: "affinity:toys" -> "affinity_toys"."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def consents(m: SegmentMember) -> bool:
    return m.marketing_opt_in and bool(m.email)


async def export_segment(
    pages: AsyncIterator[Sequence[SegmentMember]],
    generation: str,
    request: ExportRequest,
    s3: Any = None,
) -> ExportResult:
    """Stream ``pages`` (a segment's members in a stable order) into the export file.
    ``s3`` is an aioboto3 S3 client, needed when the destination is s3://."""
    fmt = FORMATS.get(request.format)
    if fmt is None:
        raise InvalidExport(
            "format", f"must be one of {', '.join(FORMATS)}, got {request.format!r}"
        )
    relative = f"{slug(request.segment)}/{generation}/{fmt.name}.{fmt.extension}"
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        members, skipped = await _encode(pages, spool, fmt.encoder, request.topic)
        size = spool.tell()
        spool.seek(0)
        if request.destination.startswith("s3://"):
            if s3 is None:
                raise ValueError("an S3 client is needed for an s3:// destination")
            uri = await _to_s3(s3, spool, request.destination, relative, fmt.content_type, size)
        else:
            uri = await asyncio.to_thread(_to_local, spool, Path(request.destination), relative)
    return ExportResult(uri, generation, members, skipped, size, fmt.import_format)


async def _encode(
    pages: AsyncIterator[Sequence[SegmentMember]], out: IO[bytes], make: Any, topic: str
) -> tuple[int, int]:
    encoder: Encoder | None = None
    members = skipped = 0
    async for page in pages:
        kept = [m for m in page if consents(m)]
        skipped += len(page) - len(kept)
        if encoder is None and kept:
            # The batch job gives every member the same attribute keys.
            encoder = make(out, ordered(kept[0].attributes), topic)
        if kept:
            assert encoder is not None
            # Encoding is CPU work: keep it off the event loop that serves requests.
            await asyncio.to_thread(encoder.write, kept)
            members += len(kept)
    if encoder is None:  # nobody to export: still a valid file (a header, or empty)
        encoder = make(out, [], topic)
    await asyncio.to_thread(encoder.close)
    return members, skipped


async def _to_s3(
    s3: Any, data: IO[bytes], destination: str, relative: str, content_type: str, size: int
) -> str:
    bucket, _, prefix = destination.removeprefix("s3://").partition("/")
    key = f"{prefix.strip('/')}/{relative}".lstrip("/")
    temporary = f"{key}.tmp-{uuid.uuid4().hex}"
    extra = {"ContentType": content_type}
    await s3.upload_fileobj(data, bucket, temporary, ExtraArgs=extra)
    try:
        source = {"Bucket": bucket, "Key": temporary}
        if size <= COPY_OBJECT_LIMIT:
            await s3.copy_object(
                CopySource=source, Bucket=bucket, Key=key, MetadataDirective="REPLACE", **extra
            )
        else:
            await s3.copy(source, bucket, key, ExtraArgs={**extra, "MetadataDirective": "REPLACE"})
    finally:
        await s3.delete_object(Bucket=bucket, Key=temporary)
    return f"s3://{bucket}/{key}"


def _to_local(data: IO[bytes], root: Path, relative: str) -> str:
    final = root / relative
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = final.with_name(f".{final.name}.tmp-{uuid.uuid4().hex}")
    try:
        with temporary.open("wb") as f:
            while chunk := data.read(1024 * 1024):
                f.write(chunk)
        os.replace(temporary, final)  # atomic on one filesystem
    finally:
        temporary.unlink(missing_ok=True)
    return str(final)
