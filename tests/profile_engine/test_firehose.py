"""Event input as the service's Track API delivers it through Amazon Data Firehose:
`EventRecord.to_json_line()` lines in suffix-less objects under YYYY/MM/DD/HH/ (plain, or
gzip with or without .gz), error output and manifests beside them; locally and on S3 (moto)."""

from __future__ import annotations

import gzip
import json
from datetime import date
from pathlib import Path

import boto3
import pandas as pd
import pytest

from loopback.aws import create_delivery_stream
from profile_engine.compute import codes
from profile_engine.compute.catalog import Catalog
from profile_engine.sources import events
from profile_engine.sources.files import ERROR_PREFIXES, error_prefixes, list_files, read_bytes
from tests.conftest import REGION, s3_client, unique
from tests.profile_engine.firehose_objects import (
    FAILED,
    HOUR,
    TS,
    body,
    key,
    record,
    write_objects,
)

pytestmark = pytest.mark.usefixtures("sync_scheduler")

LATER = HOUR.replace(hour=11)
# The delivered event objects, in path order.
EVENT_OBJECTS = (key(HOUR, 1), key(LATER, 2), key(LATER, 3, stream="shop.events", suffix=".gz"))


def _objects() -> dict[str, bytes]:
    """Every object of a Firehose delivery root (and what must not be read as events)."""
    return {
        EVENT_OBJECTS[0]: body([record(1), record(2, event_type="add_to_cart", quantity=2)]),
        # GZIP compression without the .gz extension: told by its magic bytes
        EVENT_OBJECTS[1]: gzip.compress(body([record(3, user_id="u2", event_type="purchase")])),
        # GZIP as Firehose names it, and a stream name with a dot
        EVENT_OBJECTS[2]: gzip.compress(body([record(4)])),
        "processing-failed/" + key(HOUR, 4): FAILED + b"\n",
        "manifests/" + key(HOUR, 5): b'{"entries": []}\n',
        "fh-errors/" + key(HOUR, 6): FAILED + b"\n",  # an ErrorOutputPrefix of one's own
        key(HOUR, 7, suffix=".snappy"): b"\x00snappy",  # another compression: not ours
        key(HOUR, 8, suffix=".txt"): b"notes",
        f"{HOUR:%Y/%m/%d/%H}/_SUCCESS": b"",
        f"{HOUR:%Y/%m/%d/%H}/.hidden": b"",
        "2026/09/20/notes": b"not an hour folder",
        "2026/13/45/10/x": body([record(9)]),  # not a date
        "_manifest": b"{}",  # no suffix, not in an hour folder
    }


def test_firehose_layout_is_listed_and_error_output_is_not(tmp_path: Path) -> None:
    write_objects(tmp_path, _objects())
    default = list_files(str(tmp_path), {})  # skips processing-failed, errors, manifests, ...
    assert [f.relative for f in default] == [*EVENT_OBJECTS, "fh-errors/" + key(HOUR, 6)]
    assert {(f.fmt, f.day, f.arrival) for f in default} == {("json", date(2026, 9, 20), True)}
    named = list_files(str(tmp_path), {}, skip=error_prefixes(" processing-failed,fh-errors/,"))
    assert [f.relative for f in named] == [*EVENT_OBJECTS, "manifests/" + key(HOUR, 5)]
    everything = list_files(str(tmp_path), {}, skip=error_prefixes(""))
    assert len(everything) == 6


def test_gzip_told_by_magic_bytes_without_suffix(tmp_path: Path) -> None:
    data = body([record(1), record(2)])
    (tmp_path / "plain").write_bytes(data)
    (tmp_path / "zipped").write_bytes(gzip.compress(data))
    (tmp_path / "suffixed.jsonl.gz").write_bytes(gzip.compress(data))
    for name in ("plain", "zipped", "suffixed.jsonl.gz"):
        assert read_bytes(str(tmp_path / name), {}) == data
    (tmp_path / "empty").write_bytes(b"")
    assert read_bytes(str(tmp_path / "empty"), {}) == b""


def test_firehose_events_read_beside_dt_partitions(tmp_path: Path, catalog: Catalog) -> None:
    write_objects(tmp_path / "events", _objects())
    dt = tmp_path / "events/dt=2026-09-19/part-0000.jsonl"
    dt.parent.mkdir(parents=True)
    dt.write_bytes(body([record(10, user_id="u3", ts=TS - codes.DAY_MS)]))
    read = events.read_events(
        str(tmp_path / "events"),
        catalog,
        quarantine=str(tmp_path / "q"),
        error_prefixes=(*ERROR_PREFIXES, "fh-errors"),
    )
    assert (read.files, read.lines, read.valid, read.bad) == (4, 5, 5, {})
    assert read.types == {"add_to_cart": 1, "purchase": 1, "view": 3}
    frame = read.frame.compute().sort_values("ts").reset_index(drop=True)
    assert frame["ts"].tolist() == [TS - codes.DAY_MS, TS + 1, TS + 2, TS + 3, TS + 4]
    assert frame["etype"].tolist() == [
        codes.VIEW,
        codes.VIEW,
        codes.ADD_TO_CART,
        codes.PURCHASE,
        codes.VIEW,
    ]
    assert frame["qty"].tolist() == [1, 1, 2, 1, 1]
    assert set(read.users.compute()["user_id"]) == {"u1", "u2", "u3"}  # per file
    assert not (tmp_path / "q").exists()  # nothing rejected


def test_quarantine_names_of_firehose_objects(tmp_path: Path, catalog: Catalog) -> None:
    name = key(HOUR, 1, suffix=".gz")
    write_objects(tmp_path / "events", {name: gzip.compress(body([record(1)]) + b"oops\n")})
    read = events.read_events(str(tmp_path / "events"), catalog, quarantine=str(tmp_path / "q"))
    assert read.bad == {"malformed_json": 1}
    [rejected] = (tmp_path / "q" / name.removesuffix(".gz")).parent.iterdir()
    assert rejected.name == name.rsplit("/")[-1].removesuffix(".gz") + ".rejected.jsonl"


def test_until_prunes_hour_folders_after_the_next_day(tmp_path: Path, catalog: Catalog) -> None:
    # Events of the 20th that arrived on the 21st (a phone back online) land in the 21st's
    # folders: an as-of of the 20th reads them, but not the folders of the 22nd.
    objects = {}
    for day in (19, 20, 21, 22):
        hour = HOUR.replace(day=day, hour=23)
        objects[key(hour, day)] = body([record(day, ts=TS)])
    write_objects(tmp_path, objects)
    files = list_files(str(tmp_path), {}, until=date(2026, 9, 20))
    assert [f.day for f in files] == [date(2026, 9, d) for d in (19, 20, 21)]
    read = events.read_events(str(tmp_path), catalog, until=date(2026, 9, 20))
    assert (read.files, read.valid) == (3, 3)
    assert events.read_events(str(tmp_path), catalog, until=date(2026, 9, 18)).files == 1
    # dt= partitions hold the events of their day: pruned the day after, as before
    dt = tmp_path / "dt=2026-09-21/part-0000.jsonl"
    dt.parent.mkdir()
    dt.write_bytes(body([record(1)]))
    assert [f.relative for f in list_files(str(tmp_path), {}, until=date(2026, 9, 20))] == [
        f.relative for f in files
    ]
    assert len(list_files(str(tmp_path), {}, until=date(2026, 9, 21))) == 5


def test_firehose_objects_on_s3(moto_endpoint: str, s3_bucket: str, catalog: Catalog) -> None:
    s3 = s3_client(moto_endpoint)
    for name, data in _objects().items():
        s3.put_object(Bucket=s3_bucket, Key=f"firehose/{name}", Body=data)
    # an object the service wrote with mixed event types, anonymous shoppers among them
    mixed = [
        record(20, event_type="search", product_id="", query="atlas"),
        record(21, event_type="impression", product_id="", product_ids=("A", "B")),
        record(22, user_id="", session_id="anon-1"),
        record(23, event_type="purchase", price=9.5, quantity=1, recommendation_id="r1"),
    ]
    s3.put_object(
        Bucket=s3_bucket, Key=f"firehose/{key(HOUR, 30)}", Body=gzip.compress(body(mixed))
    )
    read = events.read_events(
        f"s3://{s3_bucket}/firehose",
        catalog,
        s3_endpoint_url=moto_endpoint,
        quarantine=f"s3://{s3_bucket}/quarantine",
        until=date(2026, 9, 20),
        error_prefixes=("processing-failed", "manifests", "fh-errors"),
    )
    assert (read.files, read.lines, read.valid, read.bad) == (4, 8, 8, {})
    assert read.types == {"add_to_cart": 1, "impression": 1, "purchase": 2, "search": 1, "view": 3}
    assert read.anonymous == 1
    frame = read.frame.compute()
    assert len(frame) == 5  # search, impression and the anonymous view build no profile
    assert frame.loc[frame["price"] == 9.5, "etype"].tolist() == [codes.PURCHASE]
    listed = s3.list_objects_v2(Bucket=s3_bucket, Prefix="quarantine/").get("KeyCount", 0)
    assert listed == 0


def test_what_moto_firehose_delivers_is_read(
    moto_endpoint: str, s3_bucket: str, catalog: Catalog
) -> None:
    # Firehose itself (moto's, DirectPut to S3) names the objects: the layout is its own.
    stream = unique("events")
    firehose = boto3.client("firehose", endpoint_url=moto_endpoint, region_name=REGION)
    create_delivery_stream(moto_endpoint, stream, s3_bucket, "events/")
    records = [record(1), record(2, user_id="", session_id="anon"), record(3, user_id="u2")]
    firehose.put_record_batch(
        DeliveryStreamName=stream, Records=[{"Data": r.to_json_line()} for r in records]
    )
    read = events.read_events(f"s3://{s3_bucket}/events", catalog, s3_endpoint_url=moto_endpoint)
    [listed] = list_files(f"s3://{s3_bucket}/events", {"endpoint_url": moto_endpoint})
    assert listed.arrival and listed.relative.split("/")[4].startswith(f"{stream}-")
    assert (read.files, read.lines, read.valid, read.anonymous, read.bad) == (1, 3, 3, 1, {})
    assert len(read.frame.compute()) == 2


def test_event_types_of_the_contract_are_valid(tmp_path: Path, catalog: Catalog) -> None:
    lines = [
        record(1, event_type=t, product_id="" if t in ("search", "impression") else "B")
        for t in ("view", "add_to_cart", "remove_from_cart", "purchase", "search", "click")
    ]
    lines += [
        record(7, event_type="impression", product_id="", product_ids=("A", "C")),
        record(8, event_type="search", product_id="ZZ", query="q"),  # unknown, not modelled
        record(9, event_type="click", product_id=""),  # click names its product
        record(10, event_type="remove_from_cart", product_id=""),
        record(11, event_type="wishlist"),
    ]
    write_objects(tmp_path, {key(HOUR, 1): body(lines)})
    read = events.read_events(str(tmp_path), catalog)
    assert read.types == {
        "add_to_cart": 1,
        "click": 1,
        "impression": 1,
        "purchase": 1,
        "remove_from_cart": 1,
        "search": 2,
        "view": 1,
    }
    assert read.bad == {"unknown_event_type": 1, "missing_product_id": 2}
    assert read.unknown_products == 0  # only modelled events' products are looked up
    frame = read.frame.compute()
    assert sorted(frame["etype"]) == [codes.VIEW, codes.ADD_TO_CART, codes.PURCHASE]


def test_anonymous_events_are_counted_not_profiled(tmp_path: Path, catalog: Catalog) -> None:
    lines = [
        record(1, user_id="", session_id="anon-1"),
        record(2, user_id="", session_id="anon-1", event_type="add_to_cart"),
        record(3, user_id="", session_id="anon-2", event_type="search", product_id=""),
        record(4, user_id="", session_id=""),  # neither: a reject
        record(5, user_id="", session_id="anon-3", product_id=""),  # a view needs its product
        record(6),
    ]
    null_user = {"ts": TS, "event_type": "view", "product_id": "A", "session_id": " s9 "}
    text = body(lines) + json.dumps({**null_user, "user_id": None}).encode() + b"\n"
    write_objects(tmp_path, {key(HOUR, 1): text})
    read = events.read_events(str(tmp_path), catalog)
    assert (read.lines, read.valid, read.anonymous) == (7, 5, 4)
    assert read.bad == {"missing_user_id": 1, "missing_product_id": 1}
    assert read.types == {"add_to_cart": 1, "search": 1, "view": 3}
    frame = read.frame.compute()
    assert frame["uid"].tolist() == codes.user_keys(pd.Series(["u1"])).tolist()
    assert read.users.compute()["user_id"].tolist() == ["u1"]
