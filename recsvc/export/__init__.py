"""Segment exports for campaign tools: Pinpoint and SES import files, plain CSV/Parquet."""

from recsvc.export.exporter import ExportRequest, ExportResult, export_segment
from recsvc.export.formats import FORMATS

__all__ = ["FORMATS", "ExportRequest", "ExportResult", "export_segment"]
