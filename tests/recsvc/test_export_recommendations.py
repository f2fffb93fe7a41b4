"""Recommended products in campaign exports: a real server exports a segment to moto S3 in
the Pinpoint and SES formats; the files parsed back give each member the products
``Recommend`` answers for that user with no page context (none bought, none out of stock,
topped up from the popular list), with the catalogue's names, prices and URLs. The batch
job's `export-segment` writes the same bytes, and plain CSV and Parquet carry the same."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from generation.details import ProductDetails
from profile_engine import cli as engine_cli
from recsvc.api.v1 import recommender_pb2_grpc as rpb_grpc
from recsvc.api.v1 import segments_pb2 as spb
from recsvc.api.v1 import segments_pb2_grpc as spb_grpc
from recsvc.requests import recommend_request
from tests.conftest import s3_client
from tests.recsvc import seed
from tests.recsvc.conftest import Published, Running, StartServer, auth

pytestmark = pytest.mark.timeout(120)

N = 4  # the default number of products per member
FIELDS = ("Id", "Name", "Price", "Url", "ImageUrl")


async def export(r: Running, fmt: str) -> spb.ExportSegmentResponse:
    request = spb.ExportSegmentRequest(name="high_value", format=fmt)
    return await spb_grpc.SegmentsStub(r.channel).ExportSegment(request, metadata=auth(),
                                                                timeout=30)


def body(endpoint: str, uri: str) -> str:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return str(s3_client(endpoint).get_object(Bucket=bucket, Key=key)["Body"].read().decode())


def pinpoint_jsonl(text: str) -> dict[str, dict[str, str]]:
    """user id -> Rec attributes (Pinpoint: every value a list of one string)."""
    out = {}
    for line in text.splitlines():
        record = json.loads(line)
        attrs = record["User"]["UserAttributes"]
        assert all(isinstance(v, list) and len(v) == 1 for v in attrs.values())
        out[record["User"]["UserId"]] = {k: v[0] for k, v in attrs.items() if k.startswith("Rec")}
    return out


def pinpoint_csv(text: str) -> dict[str, dict[str, str]]:
    prefix = "User.UserAttributes."
    return {row["User.UserId"]: {k.removeprefix(prefix): v for k, v in row.items()
                                 if k.startswith(prefix + "Rec")}
            for row in csv.DictReader(io.StringIO(text))}


def ses(records: list[tuple[str, str]]) -> dict[str, dict[str, str]]:
    """(email, attributesData) pairs -> user id -> Rec attributes in Pinpoint's spelling
    (SES names them rec1Id...)."""
    out = {}
    for email, data in records:
        attrs = json.loads(data)
        user = email.split("@")[0]
        out[user] = {k[:1].upper() + k[1:]: v for k, v in attrs.items() if k.startswith("rec")}
    return out


def ses_jsonl(text: str) -> dict[str, dict[str, str]]:
    lines = [json.loads(line) for line in text.splitlines()]
    return ses([(r["emailAddress"], r["attributesData"]) for r in lines])


def ses_csv(text: str) -> dict[str, dict[str, str]]:
    return ses([(r["emailAddress"], r["attributesData"])
                for r in csv.DictReader(io.StringIO(text))])


def expected_attributes(ids: list[str]) -> dict[str, str]:
    """Rec attributes of these products from the seed's catalogue details."""
    known = {d.product_id: d for d in [seed.sample_generation().details or ()][0]}
    out = {f"Rec{i}{f}": "" for i in range(1, N + 1) for f in FIELDS}
    for i, pid in enumerate(ids, start=1):
        d = known.get(pid, ProductDetails(pid))
        out.update({f"Rec{i}Id": pid, f"Rec{i}Name": d.name,
                    f"Rec{i}Price": "" if d.price is None else f"{d.price:.2f}",
                    f"Rec{i}Url": d.page_url, f"Rec{i}ImageUrl": d.image_url})
    return out


PARSERS = {"pinpoint-jsonl": pinpoint_jsonl, "pinpoint-csv": pinpoint_csv,
           "ses-jsonl": ses_jsonl, "ses-csv": ses_csv}


async def test_exports_carry_what_recommend_answers_each_member(
    start_server: StartServer, published: Published, s3_bucket: str, moto_endpoint: str
) -> None:
    r = await start_server(export_uri=f"s3://{s3_bucket}/campaigns",
                           s3_endpoint_url=moto_endpoint)
    exported = {fmt: parse(body(moto_endpoint, (await export(r, fmt)).uri))
                for fmt, parse in PARSERS.items()}
    members = next(iter(exported.values()))
    assert len(members) > 100 and all(e == members for e in exported.values())

    recommender = rpb_grpc.RecommenderStub(r.channel)
    profiles = {p.user_id: p for p in published.data.profiles}
    checked = {"bought": 0, "out_of_stock": 0, "no_profile": 0, "no_image": 0}
    for user, attrs in members.items():
        answer = await recommender.Recommend(recommend_request(user, N), timeout=10)
        ids = [i.product_id for i in answer.items]
        assert len(ids) == N
        assert attrs == expected_attributes(ids), user
        profile = profiles.get(user)
        bought = set(profile.purchased) if profile else set()
        assert not bought & set(ids) and not seed.OUT_OF_STOCK & set(ids)
        listed = [i.product_id for i in profile.recommendations[:N + 2]] if profile else []
        checked["bought"] += bool(bought & set(listed))
        checked["out_of_stock"] += bool(seed.OUT_OF_STOCK & set(listed))
        checked["no_profile"] += profile is None
        checked["no_image"] += any(not attrs[f"Rec{i}ImageUrl"] for i in range(1, N + 1))
    # The rules did have to act: bought and out-of-stock products were left out, members
    # without a profile got the popular list, and details the catalogue lacks stay empty.
    assert all(checked.values()), checked


async def test_the_job_command_writes_the_same_file_and_plain_formats_carry_the_products(
    start_server: StartServer, published: Published, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    r = await start_server(export_uri=str(tmp_path / "service"))
    served = {fmt: Path((await export(r, fmt)).uri) for fmt in ("pinpoint-jsonl", "csv",
                                                                 "parquet")}
    # The command runs its own event loop: in a thread, beside the test's.
    code = await asyncio.to_thread(engine_cli.main, [
        "export-segment", "high_value", "--format", "pinpoint-jsonl", "--to",
        str(tmp_path / "job"), "--table", published.table, "--dynamodb-endpoint-url",
        published.endpoint])
    assert code == 0, capsys.readouterr().err
    job = tmp_path / "job" / "high_value" / published.generation / "pinpoint-jsonl.jsonl"
    assert job.read_bytes() == served["pinpoint-jsonl"].read_bytes()

    pinpoint = pinpoint_jsonl(served["pinpoint-jsonl"].read_text())
    plain = {row["user_id"]: row for row in csv.DictReader(served["csv"].open(newline=""))}
    table = pq.read_table(served["parquet"]).to_pylist()
    assert {row["user_id"]: row for row in table} == plain
    for user, attrs in pinpoint.items():
        for i in range(1, N + 1):
            for field, name in zip(FIELDS, ("id", "name", "price", "url", "image_url"),
                                   strict=True):
                assert plain[user][f"rec{i}_{name}"] == attrs[f"Rec{i}{field}"]


async def test_no_products_when_the_setting_is_zero(
    start_server: StartServer, tmp_path: Path
) -> None:
    r = await start_server(export_uri=str(tmp_path), export_recommendations=0)
    rows = list(csv.DictReader(Path((await export(r, "csv")).uri).open(newline="")))
    assert rows and list(rows[0]) == ["user_id", "email", "country", "first_name"]
