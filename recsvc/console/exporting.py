"""Exports started from the console: the shared segment export (segment_export) over the
served generation, run in the background so a large segment never holds a request open;
each one's record (running, then done or failed) is written to the export history."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from recsvc.console.readers.generation import GenerationReader
from recsvc.console.readers.records import ExportRecord, RecordBook, now
from recsvc.console.settings import ConsoleSettings
from recsvc.errors import RecsvcError
from segment_export import ExportError, ExportQuery, ExportTarget, SegmentExporter

__all__ = ["ExportRunner"]

log = logging.getLogger(__name__)

# How console users set each export setting: named in "not configured" messages.
SETTING_NAMES = {
    "destination": "RECSVC_CONSOLE_EXPORT_URI",
    "pinpoint_application_id": "RECSVC_CONSOLE_PINPOINT_APPLICATION_ID",
    "pinpoint_role_arn": "RECSVC_CONSOLE_PINPOINT_ROLE_ARN",
    "ses_contact_list": "RECSVC_CONSOLE_SES_CONTACT_LIST",
}


class ExportRunner:
    def __init__(self, reader: GenerationReader, records: RecordBook,
                 settings: ConsoleSettings, *,
                 aws_client: Callable[[str, str], Any] | None = None) -> None:
        """``aws_client``: (service, region) -> a boto3 client for the import jobs
        (segment_export's default: a new boto3 session's)."""
        self._records = records
        self.target = ExportTarget(
            destination=settings.export_uri,
            aws_region=settings.aws_region,
            s3_endpoint_url=settings.s3_endpoint_url,
            pinpoint_application_id=settings.pinpoint_application_id,
            pinpoint_role_arn=settings.pinpoint_role_arn,
            ses_contact_list=settings.ses_contact_list,
            names=SETTING_NAMES,
        )
        self._exporter = SegmentExporter(reader, self.target, aws_client=aws_client)
        self._running: dict[str, tuple[asyncio.Task[None], ExportRecord]] = {}

    @property
    def imports(self) -> tuple[str, ...]:
        """The import jobs this console may start ("pinpoint", "ses")."""
        t = self.target
        if not t.destination.startswith("s3://"):
            return ()
        kinds = []
        if t.pinpoint_application_id and t.pinpoint_role_arn:
            kinds.append("pinpoint")
        if t.ses_contact_list:
            kinds.append("ses")
        return tuple(kinds)

    async def start(self, who: str, query: ExportQuery) -> ExportRecord:
        """Record the export as running and start it; StoreUnavailable when the record
        cannot be written (then nothing runs: every export is in the history)."""
        record = ExportRecord(uuid.uuid4().hex, now(), who, query.name, query.format,
                              start_import=query.start_import)
        await self._records.put_export(record)
        task = asyncio.create_task(self._run(record, query), name=f"export-{record.id}")
        self._running[record.id] = (task, record)
        task.add_done_callback(lambda _: self._running.pop(record.id, None))
        log.info("export started", extra={"fields": {
            "export": record.id, "who": who, "segment": query.name, "format": query.format}})
        return record

    async def _run(self, record: ExportRecord, query: ExportQuery) -> None:
        try:
            done = await self._exporter.export(query)
        except (ExportError, RecsvcError) as exc:
            # Both trees' messages are written for people and carry no personal data.
            finished = replace(record, status="failed", error=str(exc), finished_at=now())
        except Exception as exc:
            log.exception("export failed", extra={"fields": {"export": record.id}})
            finished = replace(record, status="failed", error=type(exc).__name__,
                               finished_at=now())
        else:
            r = done.result
            finished = replace(record, status="done", generation=r.generation,
                               members=r.members, skipped=r.skipped, bytes=r.bytes, uri=r.uri,
                               import_job_id=done.import_job_id, finished_at=now())
        await self._finish(finished)

    async def _finish(self, record: ExportRecord) -> None:
        try:
            await self._records.put_export(record)
        except RecsvcError:
            log.exception("recording a finished export failed",
                          extra={"fields": {"export": record.id}})
            return
        log.info("export finished", extra={"fields": {
            "export": record.id, "status": record.status, "members": record.members}})

    async def wait(self) -> None:
        """Until every running export finished (tests, the screenshot script)."""
        while self._running:
            await asyncio.gather(*(t for t, _ in list(self._running.values())),
                                 return_exceptions=True)

    async def aclose(self) -> None:
        """Stop running exports and record them as interrupted; close the S3 client."""
        running = list(self._running.values())
        for task, _ in running:
            task.cancel()
        for task, record in running:
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await self._finish(replace(record, status="failed",
                                       error="interrupted: the console stopped",
                                       finished_at=now()))
        await self._exporter.aclose()
