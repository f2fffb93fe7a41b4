"""The segment export's one error tree; each caller maps it to its own (status codes, exits).

    ExportError                     base: anything the export raises on purpose
    ├── InvalidExport(field, msg)   a field of the request is wrong (the message names it)
    ├── ExportNotConfigured         a setting the export needs is missing (the message
    │                               names it, as the caller spells it)
    └── ExportFailed                writing the file or starting the import job failed

Errors of the member source (segment unknown, store down) pass through unchanged: they are
the caller's own. Messages never carry member data, keys, paths of buckets or accounts.
"""

from __future__ import annotations

__all__ = ["ExportError", "ExportFailed", "ExportNotConfigured", "InvalidExport"]


class ExportError(Exception):
    """Base of every error the segment export raises on purpose."""


class InvalidExport(ExportError):
    """A request field is missing or not allowed; ``field`` is its name."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


class ExportNotConfigured(ExportError):
    """The request is valid but a setting it needs is not set; retrying does not help."""


class ExportFailed(ExportError):
    """S3, the local disk or the import API failed; the caller may retry."""
