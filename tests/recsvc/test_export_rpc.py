"""ExportSegment through a real channel to build_server over the published moto table, the
export written to a moto S3 bucket or a local directory; the `recsvc export` and
`profile-engine export-segment` commands. Import jobs: moto implements neither import API,
so the one test that starts a job gives the server a botocore-Stubber'd Pinpoint client
(AWS stubbed, our code real)."""

from __future__ import annotations

import asyncio
import csv
import io
import sys
from collections.abc import AsyncIterator, Callable
from functools import partial
from pathlib import Path
from typing import Any

import boto3
import grpc
import pytest
from botocore.stub import Stubber

from generation import SegmentMember
from profile_engine import cli as engine_cli
from recsvc.api.v1 import segments_pb2 as spb
from recsvc.api.v1 import segments_pb2_grpc as spb_grpc
from recsvc.cache import InProcessCache
from recsvc.exports import ExportService
from recsvc.server.app import build_server
from recsvc.server.graph import build_graph
from recsvc.settings import Settings
from recsvc.store import open_store
from tests.conftest import REGION, s3_client
from tests.recsvc import seed
from tests.recsvc.conftest import TOKEN, Published, Running, StartServer, auth

pytestmark = pytest.mark.timeout(60)

ROLE = "arn:aws:iam::123456789012:role/pinpoint-import"


def stub(r: Running) -> spb_grpc.SegmentsStub:
    return spb_grpc.SegmentsStub(r.channel)


def consenting(published: Published, segment: str) -> tuple[list[SegmentMember], int]:
    members = seed.members_of(published.data, segment)
    kept = [m for m in members if m.marketing_opt_in and m.email]
    return kept, len(members) - len(kept)


async def export(r: Running, **fields: Any) -> spb.ExportSegmentResponse:
    request = spb.ExportSegmentRequest(**{"name": "high_value", "format": "pinpoint-csv",
                                          **fields})
    return await stub(r).ExportSegment(request, metadata=auth(), timeout=30)


async def status_of(r: Running, metadata: Any = None, **fields: Any) -> tuple[grpc.StatusCode,
                                                                               str]:
    request = spb.ExportSegmentRequest(**{"name": "high_value", "format": "pinpoint-csv",
                                          **fields})
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub(r).ExportSegment(
            request, metadata=auth() if metadata is None else metadata, timeout=30
        )
    return err.value.code(), err.value.details() or ""


def keys(endpoint: str, bucket: str) -> list[str]:
    listing = s3_client(endpoint).list_objects_v2(Bucket=bucket)
    return [o["Key"] for o in listing.get("Contents", [])]


async def test_export_to_s3_is_pinpoint_csv_of_consenting_members_and_repeatable(
    start_server: StartServer, published: Published, s3_bucket: str, moto_endpoint: str
) -> None:
    r = await start_server(
        export_uri=f"s3://{s3_bucket}/campaigns/", s3_endpoint_url=moto_endpoint
    )
    first = await export(r)
    key = f"campaigns/high_value/{published.generation}/pinpoint-csv.csv"
    assert first.uri == f"s3://{s3_bucket}/{key}"
    assert first.generation == published.generation and first.import_job_id == ""
    kept, skipped = consenting(published, "high_value")
    assert (first.members, first.skipped) == (len(kept), skipped)
    opted_out = {
        m.user_id for m in seed.members_of(published.data, "high_value") if not m.marketing_opt_in
    }
    assert opted_out and skipped  # the seed has members without consent

    body = s3_client(moto_endpoint).get_object(Bucket=s3_bucket, Key=key)["Body"].read()
    assert first.bytes == len(body)
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert [row["Id"] for row in rows] == [m.user_id for m in kept]
    assert not opted_out & {row["Id"] for row in rows}
    profile_columns = {k: v for k, v in rows[0].items() if ".Rec" not in k}
    assert list(rows[0])[len(profile_columns):] == [  # then each product's, by rank
        f"User.UserAttributes.Rec{i}{f}" for i in range(1, 5)
        for f in ("Id", "Name", "Price", "Url", "ImageUrl")]
    assert profile_columns == {
        "ChannelType": "EMAIL",
        "Address": kept[0].email,
        "Id": kept[0].user_id,
        "Location.Country": "DE",
        "User.UserId": kept[0].user_id,
        "User.UserAttributes.FirstName": kept[0].attributes["first_name"],
    }

    second = await export(r)
    assert (second.uri, second.bytes, second.members) == (first.uri, first.bytes, first.members)
    again = s3_client(moto_endpoint).get_object(Bucket=s3_bucket, Key=key)["Body"].read()
    assert again == body
    assert keys(moto_endpoint, s3_bucket) == [key]  # no temporary objects left


async def test_export_needs_a_token(
    start_server: StartServer, tmp_path: Path
) -> None:
    r = await start_server(export_uri=str(tmp_path))
    code, _ = await status_of(r, metadata=())
    assert code == grpc.StatusCode.UNAUTHENTICATED
    code, _ = await status_of(r, metadata=auth("wrong"))
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert list(tmp_path.iterdir()) == []


async def test_unknown_segment_is_not_found_and_bad_fields_are_named(
    start_server: StartServer, tmp_path: Path
) -> None:
    r = await start_server(export_uri=str(tmp_path))
    code, details = await status_of(r, name="no_such_segment")
    assert code == grpc.StatusCode.NOT_FOUND and "no_such_segment" in details

    for fields, field in (
        ({"format": "xlsx"}, "format"),
        ({"format": ""}, "format"),
        ({"name": ""}, "name"),
        ({"format": "csv", "start_import": True}, "start_import"),
        ({"format": "pinpoint-csv", "ses_topic": "Deals"}, "ses_topic"),
        ({"format": "ses-csv", "ses_topic": "x" * 129}, "ses_topic"),
    ):
        code, details = await status_of(r, **fields)
        assert code == grpc.StatusCode.INVALID_ARGUMENT, fields
        assert details.startswith(f"{field}: "), details
    assert list(tmp_path.iterdir()) == []


async def test_missing_settings_are_failed_precondition_naming_the_variable(
    start_server: StartServer, s3_bucket: str, moto_endpoint: str, tmp_path: Path
) -> None:
    unset = await start_server()
    code, details = await status_of(unset)
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "RECSVC_EXPORT_URI" in details

    r = await start_server(export_uri=f"s3://{s3_bucket}/x", s3_endpoint_url=moto_endpoint)
    code, details = await status_of(r, start_import=True)
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert "RECSVC_PINPOINT_APPLICATION_ID" in details and "RECSVC_PINPOINT_ROLE_ARN" in details
    code, details = await status_of(r, format="ses-jsonl", start_import=True)
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "RECSVC_SES_CONTACT_LIST" in details
    assert keys(moto_endpoint, s3_bucket) == []  # checked before anything is written

    # Import jobs read from S3: a local export location cannot feed one.
    local = await start_server(export_uri=str(tmp_path), ses_contact_list="shop")
    code, details = await status_of(local, format="ses-csv", start_import=True)
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "RECSVC_EXPORT_URI" in details


@pytest.fixture
async def stubbed_pinpoint(
    published: Published, s3_bucket: str, moto_endpoint: str
) -> AsyncIterator[tuple[Running, Stubber]]:
    """A server whose ExportService gets a Stubber'd boto3 Pinpoint client."""
    settings = Settings(
        host="127.0.0.1", port=0, table=published.table,
        dynamodb_endpoint_url=published.endpoint, segment_tokens=TOKEN,
        export_uri=f"s3://{s3_bucket}/exports", s3_endpoint_url=moto_endpoint,
        pinpoint_application_id="app-1", pinpoint_role_arn=ROLE,
    )
    client = boto3.client("pinpoint", region_name=REGION)
    stubber = Stubber(client)
    factory: Callable[[str, str], Any] = lambda service, region: client  # noqa: E731
    store = await open_store(settings)
    graph = build_graph(settings, store, InProcessCache(100),
                        exports=partial(ExportService, aws_client=factory))
    server, port = await build_server(settings, graph)
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        with stubber:
            yield Running(port, graph, settings, channel), stubber
    finally:
        await channel.close()
        await server.stop(None)
        await graph.aclose()
        await store.aclose()


async def test_start_import_starts_a_pinpoint_job_of_the_written_file(
    stubbed_pinpoint: tuple[Running, Stubber], published: Published, s3_bucket: str
) -> None:
    r, stubber = stubbed_pinpoint
    uri = f"s3://{s3_bucket}/exports/high_value/{published.generation}/pinpoint-csv.csv"
    stubber.add_response(
        "create_import_job",
        {"ImportJobResponse": {
            "Id": "job-42", "ApplicationId": "app-1", "CreationDate": "2026-11-24T00:00:00Z",
            "JobStatus": "CREATED", "Type": "IMPORT",
            "Definition": {"Format": "CSV", "RoleArn": ROLE, "S3Url": uri},
        }},
        {"ApplicationId": "app-1", "ImportJobRequest": {
            "DefineSegment": True, "Format": "CSV", "RegisterEndpoints": True,
            "RoleArn": ROLE, "S3Url": uri, "SegmentName": "high_value",
        }},
    )
    done = await export(r, start_import=True)
    assert (done.uri, done.import_job_id) == (uri, "job-42")
    stubber.assert_no_pending_responses()


async def test_recsvc_export_command_prints_the_result(
    start_server: StartServer, published: Published, tmp_path: Path
) -> None:
    r = await start_server(export_uri=str(tmp_path))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "recsvc", "export", "high_value", "--format", "csv",
        "--token", TOKEN, "--target", r.target,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    fields = dict(line.split(maxsplit=1) for line in out.decode().splitlines()[2:])
    path = tmp_path / "high_value" / published.generation / "csv.csv"
    kept, skipped = consenting(published, "high_value")
    assert fields["uri"] == str(path) and fields["generation"] == published.generation
    assert (fields["members"], fields["skipped"]) == (str(len(kept)), str(skipped))
    assert fields["bytes"] == str(path.stat().st_size)


def test_profile_engine_export_segment_reads_the_table_directly(
    published: Published, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["--to", str(tmp_path), "--table", published.table,
              "--dynamodb-endpoint-url", published.endpoint]
    code = engine_cli.main(["export-segment", "high_value", "--format", "ses-csv",
                            "--ses-topic", "Deals", *common])
    out, err = capsys.readouterr()
    assert code == 0, err
    path = tmp_path / "high_value" / published.generation / "ses-csv.csv"
    assert f"file     {path}" in out
    kept, _ = consenting(published, "high_value")
    rows = list(csv.DictReader(path.open(newline="")))
    assert [row["emailAddress"] for row in rows] == [m.email for m in kept]
    assert {row["topicPreferences.Deals"] for row in rows} == {"OPT_IN"}

    code = engine_cli.main(["export-segment", "nope", "--format", "csv", *common])
    _, err = capsys.readouterr()
    assert code == 1 and "NotFound" in err and "nope" in err
