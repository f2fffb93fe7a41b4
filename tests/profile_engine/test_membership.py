"""Segment history: two runs of the job over a shop whose segments change between them
write each generation's membership files (moto S3 and a local directory) and a summary per
served generation; joined/left equal a recount from the two generations' files read back
independently with pyarrow's own filesystems. A run that fails publishing writes no
summary, and the next run compares with the generation still served."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from generation import layout, payloads
from generation.summaries import (
    GenerationSummary,
    decode_summary_item,
    membership_file,
    summaries_query,
)
from profile_engine import pipeline, synthetic
from profile_engine.errors import PublishError
from profile_engine.settings import EngineSettings
from tests.conftest import dynamodb_client
from tests.profile_engine.published_items import generation_items

pytestmark = pytest.mark.timeout(300)

# The first run sees the shop up to this day, the second all of it: recency moves, new
# buyers and carts arrive, so members join and leave.
FIRST_AS_OF = "2026-10-09T00:00:00Z"


@pytest.fixture
def shop_inputs(tmp_path: Path) -> tuple[str, str]:
    shop = synthetic.generate(users=250, products=40, days=14, seed=5)
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    synthetic.write_tables(shop, url)
    synthetic.write_events(shop.events, str(tmp_path / "events"), {})
    return str(tmp_path / "events"), url


def _settings(inputs: tuple[str, str], scheduler: str, endpoint: str, table: str,
              membership_url: str | None, as_of: str | None = None) -> EngineSettings:
    return EngineSettings(
        events=inputs[0], replica_url=inputs[1], scheduler=scheduler, table=table,
        dynamodb_endpoint_url=endpoint, s3_endpoint_url=endpoint,
        membership_url=membership_url, tuning=False, quality_gate=False, as_of=as_of,
    )


def summaries(endpoint: str, table: str) -> list[GenerationSummary]:
    """Every summary in the table, newest first."""
    items = dynamodb_client(endpoint).query(**summaries_query(table))["Items"]
    return [decode_summary_item(i) for i in items]


def read_back(endpoint: str, url: str, segment: str) -> list[str] | None:
    """A segment's file under ``url`` (a summary's membership_url) with pyarrow's own S3 or
    local filesystem (not the job's fsspec); None when there is none."""
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        fs: pafs.FileSystem = pafs.S3FileSystem(
            access_key="testing", secret_key="testing", region="us-east-1",
            endpoint_override=urlparse(endpoint).netloc, scheme="http")
        path = f"{parsed.netloc}{parsed.path}{membership_file(segment)}"
    else:
        fs, path = pafs.LocalFileSystem(), f"{url}{membership_file(segment)}"
    if fs.get_file_info(path).type == pafs.FileType.NotFound:
        return None
    return [str(u) for u in pq.read_table(path, filesystem=fs).column("user_id").to_pylist()]


def reachable_recount(endpoint: str, table: str, generation: str) -> dict[str, int]:
    """Per segment, the published members an export would mail (opted in, with an address)."""
    out: dict[str, int] = {}
    for item in generation_items(endpoint, table, generation):
        pk = item["pk"]["S"]
        if "#segment#" not in pk:
            continue
        m = payloads.decode_segment_member(layout.payload(item))
        name = pk.split("#segment#", 1)[1]
        out[name] = out.get(name, 0) + int(m.marketing_opt_in and bool(m.email))
    return out


@pytest.fixture(params=["s3", "local"])
def membership_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "s3":
        return f"s3://{request.getfixturevalue('s3_bucket')}/history/membership"
    return str(tmp_path / "membership")


def test_joined_and_left_equal_a_recount_of_the_two_generations_files(
    shop_inputs: tuple[str, str], scheduler_address: str, moto_endpoint: str, moto_table: str,
    membership_url: str,
) -> None:
    first = pipeline.run(_settings(shop_inputs, scheduler_address, moto_endpoint, moto_table,
                                   membership_url, FIRST_AS_OF))
    second = pipeline.run(_settings(shop_inputs, scheduler_address, moto_endpoint, moto_table,
                                    membership_url))
    newest, oldest = summaries(moto_endpoint, moto_table)
    assert (oldest.generation, newest.generation) == (first.generation, second.generation)
    assert oldest.previous == "" and all(s.joined == s.left == 0 for s in oldest.segments)
    assert newest.previous == first.generation
    assert newest.membership_url.endswith(f"/{second.generation}/")
    assert newest.model == "ranker" and newest.counts["users"] == second.counts["users"]
    assert newest.metrics["ndcg@10"] == second.metrics["ndcg@10"]

    reachable = reachable_recount(moto_endpoint, moto_table, second.generation or "")
    changed = 0
    for s in newest.segments:
        now = read_back(moto_endpoint, newest.membership_url, s.name)
        before = read_back(moto_endpoint, oldest.membership_url, s.name)
        assert now is not None and now == sorted(now) and len(now) == s.size, s.name
        assert s.size == second.segments.get(s.name, 0)
        assert s.reachable == reachable.get(s.name, 0), s.name
        prior = set(before or [])
        assert (s.joined, s.left) == (len(set(now) - prior), len(prior - set(now))), s.name
        changed += s.joined + s.left
    assert changed > 0  # the shop did change between the runs
    assert any(s.reachable for s in newest.segments)
    # The report says the same.
    assert second.compared_with == first.generation
    assert f"changes     since {first.generation}: " in second.format()
    assert {k: (v["joined"], v["left"]) for k, v in second.membership.items()} == {
        s.name: (s.joined, s.left) for s in newest.segments}


def test_without_a_location_the_summary_still_says_size_and_reachable(
    shop_inputs: tuple[str, str], scheduler_address: str, moto_endpoint: str, moto_table: str,
) -> None:
    report = pipeline.run(_settings(shop_inputs, scheduler_address, moto_endpoint, moto_table,
                                    None))
    [only] = summaries(moto_endpoint, moto_table)
    assert (only.generation, only.previous, only.membership_url) == (report.generation, "", "")
    assert {s.name: s.size for s in only.segments if s.size} == report.segments
    reachable = reachable_recount(moto_endpoint, moto_table, report.generation or "")
    assert {s.name: s.reachable for s in only.segments if s.reachable} == {
        k: v for k, v in reachable.items() if v}
    assert all(s.joined == s.left == 0 for s in only.segments)
    assert "changes     not counted (no membership location set)" in report.format()


def _rename_customer(replica: str, old: str, new: str) -> None:
    engine = sa.create_engine(replica)
    with engine.begin() as conn:
        for table in ("customers", "orders"):
            conn.execute(sa.text(f"UPDATE {table} SET customer_id = :new "
                                 "WHERE customer_id = :old"), {"new": new, "old": old})
    engine.dispose()


def test_a_failed_run_writes_no_summary_and_the_next_compares_with_the_served_one(
    shop_inputs: tuple[str, str], scheduler_address: str, moto_endpoint: str, moto_table: str,
    tmp_path: Path,
) -> None:
    url = str(tmp_path / "membership")
    served = pipeline.run(_settings(shop_inputs, scheduler_address, moto_endpoint, moto_table,
                                    url, FIRST_AS_OF))
    # A buyer whose id is too long for a DynamoDB key: publishing fails, after the new
    # generation's membership files were written.
    engine = sa.create_engine(shop_inputs[1])
    with engine.connect() as conn:
        buyer = str(conn.execute(sa.text(
            "SELECT MIN(customer_id) FROM orders")).scalar_one())
    engine.dispose()
    _rename_customer(shop_inputs[1], buyer, "c" * 2100)
    with pytest.raises(PublishError):
        pipeline.run(_settings(shop_inputs, scheduler_address, moto_endpoint, moto_table, url))
    assert [s.generation for s in summaries(moto_endpoint, moto_table)] == [served.generation]
    assert len(list(Path(url).iterdir())) == 2  # the failed run's files; nothing names them

    _rename_customer(shop_inputs[1], "c" * 2100, buyer)
    later = pipeline.run(_settings(shop_inputs, scheduler_address, moto_endpoint, moto_table,
                                   url))
    newest = summaries(moto_endpoint, moto_table)[0]
    assert newest.generation == later.generation
    assert newest.previous == served.generation == later.compared_with
