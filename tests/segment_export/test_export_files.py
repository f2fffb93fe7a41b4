"""Segment exports: Pinpoint/SES/plain formats parse back, consent is enforced, re-runs are
byte-identical, writes are atomic, memory stays flat; import-job requests match botocore's
service models (moto implements neither import API, so botocore's Stubber validates them)."""

from __future__ import annotations

import csv
import io
import json
import tracemalloc
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import aioboto3
import boto3
import pyarrow.parquet as pq
import pytest
from botocore.stub import Stubber

from generation import SegmentMember
from segment_export import FORMATS, ExportRequest, InvalidExport, export_segment
from segment_export.jobs import start_pinpoint_import, start_ses_import
from tests.conftest import REGION, s3_client

GEN = "20261124T000000Z-abc123"


def member(i: int, opt_in: bool = True, email: bool = True) -> SegmentMember:
    return SegmentMember(
        f"u{i:06d}",
        f"user{i}@example.com" if email else "",
        opt_in,
        {
            "first_name": f"Name{i}",
            "country": "DE",
            "recency_days": str(i % 90),
            "top_category": 'books, "rare"',
        },
    )


MEMBERS = [member(1), member(2, opt_in=False), member(3, email=False), member(4), member(5)]


async def pages(
    members: Sequence[SegmentMember], size: int = 2
) -> AsyncIterator[list[SegmentMember]]:
    for i in range(0, len(members), size):
        yield list(members[i : i + size])


async def export_local(
    tmp_path: Path, fmt: str, members: Sequence[SegmentMember] = MEMBERS, topic: str = ""
) -> tuple[Path, int, int]:
    result = await export_segment(
        pages(members), GEN, ExportRequest("affinity:books", fmt, str(tmp_path), topic)
    )
    return Path(result.uri), result.members, result.skipped


async def test_pinpoint_csv_parses_back_with_only_consenting_members(tmp_path: Path) -> None:
    path, exported, skipped = await export_local(tmp_path, "pinpoint-csv")
    assert path == tmp_path / "affinity_books" / GEN / "pinpoint-csv.csv"
    rows = list(csv.DictReader(path.open(newline="")))
    assert (exported, skipped) == (3, 2)
    assert [r["User.UserId"] for r in rows] == ["u000001", "u000004", "u000005"]
    first = rows[0]
    assert first["ChannelType"] == "EMAIL" and first["Address"] == "user1@example.com"
    assert first["Id"] == "u000001" and first["Location.Country"] == "DE"
    assert first["User.UserAttributes.FirstName"] == "Name1"
    assert first["User.UserAttributes.TopCategory"] == 'books, "rare"'


async def test_pinpoint_json_lines(tmp_path: Path) -> None:
    path, _, _ = await export_local(tmp_path, "pinpoint-jsonl")
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(records) == 3
    assert records[0] == {
        "ChannelType": "EMAIL",
        "Address": "user1@example.com",
        "Id": "u000001",
        "Location": {"Country": "DE"},
        "User": {
            "UserId": "u000001",
            "UserAttributes": {
                "FirstName": ["Name1"],
                "RecencyDays": ["1"],
                "TopCategory": ['books, "rare"'],
            },
        },
    }


async def test_ses_contact_list_formats(tmp_path: Path) -> None:
    path, _, _ = await export_local(tmp_path, "ses-csv", topic="Deals")
    rows = list(csv.DictReader(path.open(newline="")))
    assert list(rows[0]) == [
        "emailAddress",
        "unsubscribeAll",
        "attributesData",
        "topicPreferences.Deals",
    ]
    assert rows[0]["unsubscribeAll"] == "false" and rows[0]["topicPreferences.Deals"] == "OPT_IN"
    assert json.loads(rows[0]["attributesData"])["firstName"] == "Name1"
    assert {r["emailAddress"] for r in rows} == {
        "user1@example.com",
        "user4@example.com",
        "user5@example.com",
    }

    path, _, _ = await export_local(tmp_path, "ses-jsonl", topic="Deals")
    record = json.loads(path.read_text().splitlines()[0])
    assert record["emailAddress"] == "user1@example.com" and record["unsubscribeAll"] is False
    assert record["topicPreferences"] == [{"topicName": "Deals", "subscriptionStatus": "OPT_IN"}]
    assert json.loads(record["attributesData"])["country"] == "DE"


async def test_plain_csv_and_parquet(tmp_path: Path) -> None:
    path, _, _ = await export_local(tmp_path, "csv")
    rows = list(csv.DictReader(path.open(newline="")))
    assert rows[0] == {
        "user_id": "u000001",
        "email": "user1@example.com",
        "country": "DE",
        "first_name": "Name1",
        "recency_days": "1",
        "top_category": 'books, "rare"',
    }
    path, _, _ = await export_local(tmp_path, "parquet")
    table = pq.read_table(path)
    assert table.column("user_id").to_pylist() == ["u000001", "u000004", "u000005"]


@pytest.mark.parametrize("fmt", sorted(FORMATS))
async def test_rerun_is_byte_identical(tmp_path: Path, fmt: str) -> None:
    first, _, _ = await export_local(tmp_path / "a", fmt)
    second, _, _ = await export_local(tmp_path / "b", fmt)
    assert first.read_bytes() == second.read_bytes()
    assert [p.name for p in first.parent.iterdir()] == [first.name]  # no temporary left


async def test_empty_segment_still_gives_a_valid_file(tmp_path: Path) -> None:
    path, exported, skipped = await export_local(
        tmp_path, "pinpoint-csv", [member(2, opt_in=False)]
    )
    assert (exported, skipped) == (0, 1)
    assert path.read_text().splitlines()[0].startswith("ChannelType,Address,Id")


async def test_unknown_format_names_the_field(tmp_path: Path) -> None:
    with pytest.raises(InvalidExport, match="format: must be one of"):
        await export_local(tmp_path, "xlsx")


async def test_s3_export_is_atomic_and_repeatable(moto_endpoint: str, s3_bucket: str) -> None:
    session = aioboto3.Session()
    async with session.client("s3", endpoint_url=moto_endpoint, region_name=REGION) as s3:
        request = ExportRequest("high_value", "pinpoint-csv", f"s3://{s3_bucket}/exports/segments")
        first = await export_segment(pages(MEMBERS), GEN, request, s3)
        second = await export_segment(pages(MEMBERS), GEN, request, s3)
    key = f"exports/segments/high_value/{GEN}/pinpoint-csv.csv"
    assert first.uri == second.uri == f"s3://{s3_bucket}/{key}"
    sync = s3_client(moto_endpoint)
    keys = [o["Key"] for o in sync.list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert keys == [key]  # the temporary keys are gone
    obj = sync.get_object(Bucket=s3_bucket, Key=key)
    assert obj["ContentType"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(obj["Body"].read().decode())))
    assert [r["Id"] for r in rows] == ["u000001", "u000004", "u000005"]


async def test_memory_is_flat_in_the_segment_size(tmp_path: Path) -> None:
    async def peak(n: int) -> int:
        members = (member(i) for i in range(n))

        async def stream() -> AsyncIterator[list[SegmentMember]]:
            page: list[SegmentMember] = []
            for m in members:
                page.append(m)
                if len(page) == 500:
                    yield page
                    page = []
            if page:
                yield page

        tracemalloc.start()
        await export_segment(stream(), GEN, ExportRequest(f"s{n}", "pinpoint-csv", str(tmp_path)))
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    small, large = await peak(20_000), await peak(100_000)
    # 5x the members; the 8 MiB spool is the only thing allowed to grow before it moves to disk.
    assert large < small + 10 * 1024 * 1024, (small, large)


def test_pinpoint_import_request_matches_the_service_model() -> None:
    client = boto3.client("pinpoint", region_name=REGION)
    with Stubber(client) as stub:
        stub.add_response(
            "create_import_job",
            {
                "ImportJobResponse": {
                    "Id": "job-1",
                    "ApplicationId": "app",
                    "CreationDate": "2026-11-24T00:00:00Z",
                    "JobStatus": "CREATED",
                    "Type": "IMPORT",
                    "Definition": {
                        "Format": "CSV",
                        "RoleArn": "arn:aws:iam::123456789012:role/import",
                        "S3Url": "s3://b/k.csv",
                    },
                }
            },
            {
                "ApplicationId": "app",
                "ImportJobRequest": {
                    "DefineSegment": True,
                    "Format": "CSV",
                    "RegisterEndpoints": True,
                    "RoleArn": "arn:aws:iam::123456789012:role/import",
                    "S3Url": "s3://b/k.csv",
                    "SegmentName": "high_value",
                },
            },
        )
        job = start_pinpoint_import(
            client,
            application_id="app",
            role_arn="arn:aws:iam::123456789012:role/import",
            s3_url="s3://b/k.csv",
            data_format="CSV",
            segment_name="high_value",
        )
        stub.assert_no_pending_responses()
    assert job == "job-1"


def test_ses_import_request_matches_the_service_model() -> None:
    client = boto3.client("sesv2", region_name=REGION)
    with Stubber(client) as stub:
        stub.add_response(
            "create_import_job",
            {"JobId": "ses-job-1"},
            {
                "ImportDestination": {
                    "ContactListDestination": {
                        "ContactListName": "shop",
                        "ContactListImportAction": "PUT",
                    }
                },
                "ImportDataSource": {"S3Url": "s3://b/k.csv", "DataFormat": "CSV"},
            },
        )
        job = start_ses_import(
            client, contact_list="shop", s3_url="s3://b/k.csv", data_format="CSV"
        )
        stub.assert_no_pending_responses()
    assert job == "ses-job-1"
