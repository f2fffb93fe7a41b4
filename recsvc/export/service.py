"""The ExportSegment use case: a segment of the served generation -> export file -> import job.

Shared by the service (the ExportSegment RPC) and ``profile-engine export-segment``: both
read the members through SegmentService (what the Segment stream reads) and write them
with ``export_segment``. The destination and the import targets are settings, never the
caller's choice. Owns the S3 client it opens (lazily, on the first s3:// export).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AsyncExitStack, aclosing
from dataclasses import dataclass
from typing import Any

from recsvc.errors import FailedPrecondition, InvalidRequest, Unavailable
from recsvc.export.exporter import ExportRequest, ExportResult, export_segment
from recsvc.export.jobs import start_pinpoint_import, start_ses_import
from recsvc.models import ExportQuery
from recsvc.segments import SegmentService
from recsvc.settings import Settings

__all__ = ["ExportService", "SegmentExport", "import_kind"]

# Members read from the store per page while exporting (the Segment stream's maximum).
PAGE_SIZE = 1000
PINPOINT, SES = "pinpoint", "ses"

# AWS client factory for the import jobs: (service name, region) -> a boto3 client.
ClientFactory = Callable[[str, str], Any]


def import_kind(fmt: str) -> str:
    """"pinpoint" or "ses": the import job a format feeds; "" when it has none."""
    if fmt.startswith("pinpoint-"):
        return PINPOINT
    if fmt.startswith("ses-"):
        return SES
    return ""


@dataclass(frozen=True)
class SegmentExport:
    result: ExportResult
    # The started import job's id; "" when none was asked for.
    import_job_id: str = ""


def _boto3_client(service: str, region: str) -> Any:
    import boto3

    # A session per client: boto3's default session is not thread-safe to create from.
    return boto3.session.Session().client(service, region_name=region)


class ExportService:
    def __init__(
        self,
        segments: SegmentService,
        settings: Settings,
        *,
        aws_client: ClientFactory = _boto3_client,
    ) -> None:
        self._segments = segments
        self._settings = settings
        self._aws_client = aws_client
        self._stack = AsyncExitStack()
        self._s3: Any = None
        self._s3_lock = asyncio.Lock()

    async def export(self, query: ExportQuery) -> SegmentExport:
        """Raises FailedPrecondition (a setting is missing; the message names it),
        InvalidRequest, NotFound (segment), Unavailable (store, S3 or the import API)."""
        destination = self._settings.export_uri
        if not destination:
            raise FailedPrecondition(
                "RECSVC_EXPORT_URI is not set: this service has no export location"
            )
        # Check the import settings before any work is done.
        start = self._import_job(query, destination) if query.start_import else None
        generation, pages = await self._segments.members(query.name, page_size=PAGE_SIZE)
        s3 = await self._s3_client() if destination.startswith("s3://") else None
        request = ExportRequest(query.name, query.format, destination, query.ses_topic)
        write_errors: tuple[type[Exception], ...] = (OSError, *_aws_errors())
        try:
            async with aclosing(pages):
                result = await export_segment(pages, generation, request, s3)
        except write_errors as exc:
            raise Unavailable(f"writing the export failed: {_describe(exc)}") from exc
        if start is None:
            return SegmentExport(result)
        try:
            job = await asyncio.to_thread(start, result)
        except _aws_errors() as exc:
            raise Unavailable(f"starting the import job failed: {_describe(exc)}") from exc
        return SegmentExport(result, job)

    def _import_job(self, query: ExportQuery, destination: str) -> Callable[[ExportResult], str]:
        s = self._settings
        kind = import_kind(query.format)
        if not kind:
            raise InvalidRequest(
                "start_import", f"format {query.format!r} has no import job (pinpoint-*, ses-*)"
            )
        if not destination.startswith("s3://"):
            raise FailedPrecondition(
                "start_import needs RECSVC_EXPORT_URI to be an s3:// location "
                "(import jobs read the file from S3)"
            )
        needed = (
            {"RECSVC_PINPOINT_APPLICATION_ID": s.pinpoint_application_id,
             "RECSVC_PINPOINT_ROLE_ARN": s.pinpoint_role_arn}
            if kind == PINPOINT
            else {"RECSVC_SES_CONTACT_LIST": s.ses_contact_list}
        )
        missing = [name for name, value in needed.items() if not value]
        if missing:
            raise FailedPrecondition(
                f"start_import of {query.format} needs {' and '.join(missing)}, which "
                f"{'is' if len(missing) == 1 else 'are'} not set"
            )

        def pinpoint(result: ExportResult) -> str:
            return start_pinpoint_import(
                self._aws_client("pinpoint", s.aws_region),
                application_id=s.pinpoint_application_id,
                role_arn=s.pinpoint_role_arn,
                s3_url=result.uri,
                data_format=result.import_format,
                segment_name=query.name,
            )

        def ses(result: ExportResult) -> str:
            return start_ses_import(
                self._aws_client("sesv2", s.aws_region),
                contact_list=s.ses_contact_list,
                s3_url=result.uri,
                data_format=result.import_format,
            )

        return pinpoint if kind == PINPOINT else ses

    async def _s3_client(self) -> Any:
        async with self._s3_lock:
            if self._s3 is None:
                import aioboto3

                self._s3 = await self._stack.enter_async_context(
                    aioboto3.Session().client(
                        "s3",
                        region_name=self._settings.aws_region,
                        endpoint_url=self._settings.s3_endpoint_url,
                    )
                )
            return self._s3

    async def aclose(self) -> None:
        """Close the S3 client if one was opened. Idempotent."""
        self._s3 = None
        await self._stack.aclose()


def _aws_errors() -> tuple[type[Exception], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return (ClientError, BotoCoreError)


def _describe(exc: Exception) -> str:
    """The AWS error code or the exception type: no keys, paths or account details."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", type(exc).__name__))
    return type(exc).__name__
