"""What to export: a validated query (segment, format, import job, SES topic)."""

from __future__ import annotations

from dataclasses import dataclass

from segment_export.errors import InvalidExport
from segment_export.formats import FORMATS

__all__ = ["PINPOINT", "SES", "ExportQuery", "import_kind"]

PINPOINT, SES = "pinpoint", "ses"
MAX_NAME_CHARS = 128
# SES topic names are at most 64 characters; leave room without taking anything.
MAX_TOPIC_CHARS = 128


def import_kind(fmt: str) -> str:
    """"pinpoint" or "ses": the import job a format feeds; "" when it has none."""
    if fmt.startswith("pinpoint-"):
        return PINPOINT
    if fmt.startswith("ses-"):
        return SES
    return ""


@dataclass(frozen=True, slots=True)
class ExportQuery:
    """A validated export request: build it with :meth:`checked`."""

    name: str
    # One of formats.FORMATS.
    format: str
    # Start the Pinpoint (pinpoint-*) or SES (ses-*) import job of the written file.
    start_import: bool = False
    # SES contact-list topic the members are opted in to; "" for none.
    ses_topic: str = ""

    @classmethod
    def checked(
        cls, name: str, fmt: str, *, start_import: bool = False, ses_topic: str = ""
    ) -> ExportQuery:
        """The query, or InvalidExport naming the first wrong field."""
        if not name:
            raise InvalidExport("name", "is required")
        if len(name) > MAX_NAME_CHARS:
            raise InvalidExport(
                "name", f"must be at most {MAX_NAME_CHARS} characters, got {len(name)}"
            )
        if fmt not in FORMATS:
            got = f"got {fmt[:32]!r}" if fmt else "it is required"
            raise InvalidExport("format", f"must be one of {', '.join(FORMATS)}; {got}")
        kind = import_kind(fmt)
        if start_import and not kind:
            raise InvalidExport(
                "start_import", f"format {fmt} has no import job (only pinpoint-* and ses-* do)"
            )
        if ses_topic and kind != SES:
            raise InvalidExport("ses_topic", f"only for ses-* formats, not {fmt}")
        if len(ses_topic) > MAX_TOPIC_CHARS:
            raise InvalidExport(
                "ses_topic",
                f"must be at most {MAX_TOPIC_CHARS} characters, got {len(ses_topic)}",
            )
        return cls(name, fmt, start_import, ses_topic)
