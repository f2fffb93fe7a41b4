"""The ExportSegment use case in the service: the shared segment export (segment_export)
over the served generation's segments, with the destination and import targets from
RECSVC_* settings, and its errors in the service's tree."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from recsvc.errors import FailedPrecondition, InvalidRequest, Unavailable
from recsvc.segments import SegmentService
from recsvc.settings import Settings
from segment_export import (
    ExportFailed,
    ExportNotConfigured,
    ExportQuery,
    ExportTarget,
    InvalidExport,
    SegmentExport,
    SegmentExporter,
)

__all__ = ["ExportService", "export_query"]

# How the service's users set each export setting: named in FAILED_PRECONDITION messages.
SETTING_NAMES = {
    "destination": "RECSVC_EXPORT_URI",
    "pinpoint_application_id": "RECSVC_PINPOINT_APPLICATION_ID",
    "pinpoint_role_arn": "RECSVC_PINPOINT_ROLE_ARN",
    "ses_contact_list": "RECSVC_SES_CONTACT_LIST",
}


def export_query(name: str, fmt: str, *, start_import: bool, ses_topic: str) -> ExportQuery:
    """The validated query; InvalidRequest naming the field otherwise."""
    try:
        return ExportQuery.checked(name, fmt, start_import=start_import, ses_topic=ses_topic)
    except InvalidExport as exc:
        raise InvalidRequest(exc.field, exc.reason) from None


class ExportService:
    """Owns the exporter (and so its S3 client): ``aclose`` on shutdown."""

    def __init__(
        self,
        segments: SegmentService,
        settings: Settings,
        *,
        aws_client: Callable[[str, str], Any] | None = None,
    ) -> None:
        target = ExportTarget(
            destination=settings.export_uri,
            aws_region=settings.aws_region,
            s3_endpoint_url=settings.s3_endpoint_url,
            pinpoint_application_id=settings.pinpoint_application_id,
            pinpoint_role_arn=settings.pinpoint_role_arn,
            ses_contact_list=settings.ses_contact_list,
            recommendations=settings.export_recommendations,
            names=SETTING_NAMES,
        )
        self._exporter = SegmentExporter(segments, target,
                                         recommendations=segments.export_lists(),
                                         aws_client=aws_client)

    async def export(self, query: ExportQuery) -> SegmentExport:
        """Raises FailedPrecondition (a setting is missing; the message names it),
        InvalidRequest, NotFound (segment), Unavailable (store, S3 or the import API)."""
        try:
            return await self._exporter.export(query)
        except InvalidExport as exc:
            raise InvalidRequest(exc.field, exc.reason) from exc
        except ExportNotConfigured as exc:
            raise FailedPrecondition(str(exc)) from exc
        except ExportFailed as exc:
            raise Unavailable(str(exc)) from exc

    async def aclose(self) -> None:
        """Close the exporter's S3 client if one was opened. Idempotent."""
        await self._exporter.aclose()
