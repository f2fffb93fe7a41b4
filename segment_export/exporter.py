"""The segment export use case: a segment's members -> export file -> import job.

Shared by the service (the ExportSegment RPC) and the batch job's command line
(``profile-engine export-segment``): each brings its own source of members (the service
its store behind the served generation, the command the table directly) and its own
settings, and maps the :mod:`segment_export.errors` tree to its own. The destination and
the import targets are settings, never the caller's choice. Owns the S3 client it opens
(lazily, on the first s3:// export).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Mapping
from contextlib import AsyncExitStack, aclosing
from dataclasses import dataclass, field
from typing import Any, Protocol

from generation import SegmentMember
from segment_export.errors import ExportFailed, ExportNotConfigured, InvalidExport
from segment_export.jobs import start_pinpoint_import, start_ses_import
from segment_export.recommended import PersonalLists, RecommendationSource
from segment_export.request import PINPOINT, ExportQuery, import_kind
from segment_export.writer import ExportRequest, ExportResult, consents, export_segment

__all__ = ["ExportTarget", "MemberSource", "SegmentExport", "SegmentExporter"]

# Members read per page while exporting (the Segment stream's maximum).
PAGE_SIZE = 1000

# AWS client factory for the import jobs: (service name, region) -> a boto3 client.
ClientFactory = Callable[[str, str], Any]


class MemberSource(Protocol):
    async def members(
        self, name: str, *, page_size: int
    ) -> tuple[str, AsyncGenerator[list[SegmentMember], None]]:
        """(generation, pages): every member of segment ``name`` of the served generation,
        in user-id order, one page at a time. Raises the caller's own errors (unknown
        segment, store down) now or while iterating."""
        ...


@dataclass(frozen=True)
class ExportTarget:
    """Where exports go and which import jobs they may start: the caller's settings.
    ``names`` spells each field as the caller's user sets it (an environment variable, a
    flag), so a message about a missing setting names what to set."""

    destination: str = ""
    aws_region: str = "us-east-1"
    s3_endpoint_url: str | None = None
    pinpoint_application_id: str = ""
    pinpoint_role_arn: str = ""
    ses_contact_list: str = ""
    # Recommended products added to each member (segment_export.recommended); 0: none.
    recommendations: int = 4
    names: Mapping[str, str] = field(default_factory=dict)

    def name_of(self, setting: str) -> str:
        return self.names.get(setting, setting)


@dataclass(frozen=True)
class SegmentExport:
    result: ExportResult
    # The started import job's id; "" when none was asked for.
    import_job_id: str = ""


def _boto3_client(service: str, region: str) -> Any:
    import boto3

    # A session per client: boto3's default session is not thread-safe to create from.
    return boto3.session.Session().client(service, region_name=region)


class SegmentExporter:
    def __init__(
        self,
        source: MemberSource,
        target: ExportTarget,
        *,
        recommendations: RecommendationSource | None = None,
        aws_client: ClientFactory | None = None,
    ) -> None:
        """``recommendations``: where the members' recommended products come from; None
        exports the members' profile attributes only."""
        self._source = source
        self._target = target
        self._recommendations = recommendations
        self._aws_client = aws_client or _boto3_client
        self._stack = AsyncExitStack()
        self._s3: Any = None
        self._s3_lock = asyncio.Lock()

    async def export(self, query: ExportQuery) -> SegmentExport:
        """Raises ExportNotConfigured (a setting is missing; the message names it),
        InvalidExport, ExportFailed (S3, disk or the import API), and the source's own."""
        t = self._target
        if not t.destination:
            raise ExportNotConfigured(
                f"{t.name_of('destination')} is not set: there is no export location"
            )
        # Check the import settings before any work is done.
        start = self._import_job(query) if query.start_import else None
        generation, pages = await self._source.members(query.name, page_size=PAGE_SIZE)
        s3 = await self._s3_client() if t.destination.startswith("s3://") else None
        request = ExportRequest(query.name, query.format, t.destination, query.ses_topic)
        write_errors: tuple[type[Exception], ...] = (OSError, *_aws_errors())
        try:
            async with aclosing(pages), aclosing(
                self._with_products(generation, pages)
            ) as enriched:
                result = await export_segment(enriched, generation, request, s3)
        except write_errors as exc:
            raise ExportFailed(f"writing the export failed: {_describe(exc)}") from exc
        if start is None:
            return SegmentExport(result)
        try:
            job = await asyncio.to_thread(start, result)
        except _aws_errors() as exc:
            raise ExportFailed(f"starting the import job failed: {_describe(exc)}") from exc
        return SegmentExport(result, job)

    async def _with_products(
        self, generation: str, pages: AsyncGenerator[list[SegmentMember], None]
    ) -> AsyncGenerator[list[SegmentMember], None]:
        """The pages, each consenting member with their recommended products."""
        n = self._target.recommendations
        if self._recommendations is None or n <= 0:
            async for page in pages:
                yield page
            return
        lists = PersonalLists(self._recommendations, generation, n)
        async for page in pages:
            yield await lists.add_to(page, consents)

    def _import_job(self, query: ExportQuery) -> Callable[[ExportResult], str]:
        t = self._target
        kind = import_kind(query.format)
        if not kind:
            raise InvalidExport(
                "start_import", f"format {query.format!r} has no import job (pinpoint-*, ses-*)"
            )
        if not t.destination.startswith("s3://"):
            raise ExportNotConfigured(
                f"start_import needs {t.name_of('destination')} to be an s3:// location "
                "(import jobs read the file from S3)"
            )
        needed = (
            ("pinpoint_application_id", "pinpoint_role_arn")
            if kind == PINPOINT
            else ("ses_contact_list",)
        )
        missing = [t.name_of(n) for n in needed if not getattr(t, n)]
        if missing:
            raise ExportNotConfigured(
                f"start_import of {query.format} needs {' and '.join(missing)}, which "
                f"{'is' if len(missing) == 1 else 'are'} not set"
            )

        def pinpoint(result: ExportResult) -> str:
            return start_pinpoint_import(
                self._aws_client("pinpoint", t.aws_region),
                application_id=t.pinpoint_application_id,
                role_arn=t.pinpoint_role_arn,
                s3_url=result.uri,
                data_format=result.import_format,
                segment_name=query.name,
            )

        def ses(result: ExportResult) -> str:
            return start_ses_import(
                self._aws_client("sesv2", t.aws_region),
                contact_list=t.ses_contact_list,
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
                        region_name=self._target.aws_region,
                        endpoint_url=self._target.s3_endpoint_url,
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

