"""Exports started from the console, in process over moto: the import job's id reaches
the history, a failure is recorded with its reason, a stopped console records the exports
it interrupted."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import aioboto3
import boto3
import pytest
from botocore.stub import Stubber

from loopback.waiting import wait_until
from recsvc.console.exporting import ExportRunner
from recsvc.console.readers.generation import GenerationReader
from recsvc.console.readers.records import RecordBook
from recsvc.console.settings import ConsoleSettings
from segment_export import ExportQuery
from tests.console.conftest import Shop

ROLE = "arn:aws:iam::123456789012:role/pinpoint-import"


@pytest.fixture
async def parts(shop: Shop) -> AsyncIterator[tuple[GenerationReader, RecordBook]]:
    async with aioboto3.Session().client(
        "dynamodb", region_name="us-east-1", endpoint_url=shop.endpoint
    ) as client:
        reader = GenerationReader(client, shop.table, timeout_s=5, history=90,
                                  summaries_ttl_s=0)
        yield reader, RecordBook(client, shop.table)


def settings(shop: Shop, **extra: Any) -> ConsoleSettings:
    return ConsoleSettings(**{"table": shop.table, "dynamodb_endpoint_url": shop.endpoint,
                              "s3_endpoint_url": shop.endpoint,
                              "export_uri": f"s3://{shop.bucket}/segments", **extra})


async def test_the_import_job_id_is_in_the_history(
    shop: Shop, parts: tuple[GenerationReader, RecordBook]
) -> None:
    reader, records = parts
    pinpoint = boto3.client("pinpoint", region_name="us-east-1")
    uri = f"s3://{shop.bucket}/segments/high_value/{shop.generation}/pinpoint-csv.csv"
    runner = ExportRunner(reader, records, settings(
        shop, pinpoint_application_id="app-1", pinpoint_role_arn=ROLE),
        aws_client=lambda service, region: pinpoint)
    assert runner.imports == ("pinpoint",)
    with Stubber(pinpoint) as stubber:
        stubber.add_response("create_import_job", {"ImportJobResponse": {
            "Id": "job-42", "ApplicationId": "app-1", "CreationDate": "2026-11-24T00:00:00Z",
            "JobStatus": "CREATED", "Type": "IMPORT",
            "Definition": {"Format": "CSV", "RoleArn": ROLE, "S3Url": uri}}})
        started = await runner.start("mark", ExportQuery.checked(
            "high_value", "pinpoint-csv", start_import=True))
        await runner.wait()
    [record] = [r for r in await records.exports() if r.id == started.id]
    assert (record.status, record.uri, record.import_job_id) == ("done", uri, "job-42")
    assert record.who == "mark" and record.start_import and record.members == 120
    await runner.aclose()


async def test_a_failed_export_is_recorded_with_its_reason(
    shop: Shop, parts: tuple[GenerationReader, RecordBook]
) -> None:
    reader, records = parts
    runner = ExportRunner(reader, records, settings(shop, export_uri="s3://no-such-bucket/x"))
    started = await runner.start("mark", ExportQuery.checked("lapsed", "csv"))
    await runner.wait()
    [record] = [r for r in await records.exports() if r.id == started.id]
    assert record.status == "failed" and "NoSuchBucket" in record.error
    assert record.finished_at and not record.uri
    await runner.aclose()


async def test_a_stopped_console_records_the_exports_it_interrupted(
    shop: Shop, parts: tuple[GenerationReader, RecordBook]
) -> None:
    reader, records = parts
    # An S3 that takes connections and never answers: the export is still writing.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        runner = ExportRunner(reader, records, settings(
            shop, s3_endpoint_url=f"http://127.0.0.1:{silent.getsockname()[1]}"))
        started = await runner.start("mark", ExportQuery.checked("lapsed", "csv"))
        await wait_until(lambda: _connected(silent), 10,
                         "the export to reach S3")
        await runner.aclose()
    [record] = [r for r in await records.exports() if r.id == started.id]
    assert record.status == "failed" and record.error == "interrupted: the console stopped"


def _connected(server: socket.socket) -> bool:
    """Whether a client is waiting in the server's backlog (accept without blocking)."""
    server.setblocking(False)
    try:
        conn, _ = server.accept()
    except BlockingIOError:
        return False
    _held.append(conn)  # kept open, never answered
    return True


_held: list[socket.socket] = []
