"""Segment exports for campaign tools: a segment's consenting members as a Pinpoint or SES
import file (or plain CSV/Parquet) on S3 or disk, and the import job that reads it.

The one use case both halves run (the service's ExportSegment RPC, the batch job's
``profile-engine export-segment``): it imports the contract (``generation``) and neither
half. Light imports only; the S3 client (aioboto3) and boto3 load when used.

    request.py   ExportQuery: what to export, validated (fields named in errors)
    exporter.py  SegmentExporter: source of members -> file -> import job
    writer.py    the file: spooled, uploaded under a temporary key, then renamed
    recommended.py  each member's top recommended products as template attributes
    formats.py   row encoders per format; parquet.py a pure-Python Parquet writer
    jobs.py      the Pinpoint and SES v2 import job requests
    errors.py    the error tree callers map to their own
"""

from segment_export.errors import ExportError, ExportFailed, ExportNotConfigured, InvalidExport
from segment_export.exporter import ExportTarget, MemberSource, SegmentExport, SegmentExporter
from segment_export.formats import FORMATS
from segment_export.recommended import RecommendationSource, Storefront
from segment_export.request import ExportQuery, import_kind
from segment_export.writer import ExportRequest, ExportResult, export_segment

__all__ = [
    "FORMATS",
    "ExportError",
    "ExportFailed",
    "ExportNotConfigured",
    "ExportQuery",
    "ExportRequest",
    "ExportResult",
    "ExportTarget",
    "InvalidExport",
    "MemberSource",
    "RecommendationSource",
    "SegmentExport",
    "SegmentExporter",
    "Storefront",
    "export_segment",
    "import_kind",
]
