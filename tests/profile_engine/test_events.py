"""sources/events.py: read_events over event files (bad lines, formats, Hive partitions, S3
on moto)."""

from __future__ import annotations

import gzip
import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import s3fs

from profile_engine.compute import codes
from profile_engine.compute.catalog import Catalog
from profile_engine.sources import events
from profile_engine.sources.files import list_files, read_bytes
from tests.conftest import s3_client
from tests.profile_engine.event_lines import ISO, ISO_MS, ev, write_lines

# Source functions are plain dask graphs: the synchronous scheduler runs them in-process.
pytestmark = pytest.mark.usefixtures("sync_scheduler")


BAD_FILE = [
    ev(),  # valid view
    ev(event_type="add_to_cart", ts=ISO_MS + 1000, price=12.5, quantity=2),  # epoch ms, own price
    ev(event_type="search", product_id=None, query="atlas"),  # search: no product needed
    ev(ts="2026-09-20T12:00:00+02:00", user_id=7),  # offset timestamp, numeric user id
    ev(product_id="ZZ"),  # valid line, product unknown to the catalogue
    '{"ts": "2026-09-20T10:00:00Z", "user_id": ',  # truncated
    "[1, 2, 3]",  # JSON, not an object
    ev(user_id=None, session_id=None),  # anonymous needs a session
    ev(user_id="  ", session_id=" "),
    ev(product_id=None),
    ev(ts="yesterday"),
    ev(ts=1_789_898_400),  # epoch seconds, not ms
    ev(event_type="wishlist"),
    ev(event_type=None),
    ev(quantity="two"),
    ev(quantity=1e12),
    ev(event_type=" View "),  # tolerated: case and blanks
    "",
]


def test_bad_lines_counted_by_reason_and_quarantined(tmp_path: Path, catalog: Catalog) -> None:
    write_lines(tmp_path / "events/dt=2026-09-20/part-0000.jsonl", BAD_FILE)
    read = events.read_events(str(tmp_path / "events"), catalog, quarantine=str(tmp_path / "bad"))
    assert read.files == 1 and read.lines == 17 and read.valid == 6
    assert read.bad == {
        "malformed_json": 2,
        "missing_user_id": 2,
        "unknown_event_type": 2,
        "missing_product_id": 1,
        "bad_ts": 2,
        "bad_number": 2,
    }
    assert read.types == {"add_to_cart": 1, "search": 1, "view": 4}
    assert read.unknown_products == 1
    frame = read.frame.compute().sort_values(["ts", "uid"]).reset_index(drop=True)
    assert frame.dtypes.astype(str).to_dict() == codes.INTERACTION_DTYPES
    # 12:00+02:00 is the same instant as 10:00Z
    assert frame["ts"].tolist() == [ISO_MS, ISO_MS, ISO_MS, ISO_MS + 1000]
    assert sorted(frame["etype"]) == [codes.VIEW] * 3 + [codes.ADD_TO_CART]
    cart = frame[frame["etype"] == codes.ADD_TO_CART].iloc[0]
    assert (cart["price"], cart["qty"]) == (12.5, 2)
    # views carry no price: the catalogue's
    assert frame.loc[frame["etype"] == codes.VIEW, "price"].tolist() == [10.0] * 3
    users = read.users.compute()
    assert sorted(users["user_id"]) == ["7", "u1"]
    assert set(frame["uid"]) == set(codes.user_keys(pd.Series(["u1", "7"])))
    rejected = [
        json.loads(x)
        for x in (tmp_path / "bad/dt=2026-09-20/part-0000.rejected.jsonl").read_text().splitlines()
    ]
    assert len(rejected) == 11 and {r["source"] for r in rejected} == {
        "dt=2026-09-20/part-0000.jsonl"
    }
    assert sorted({r["reason"] for r in rejected}) == sorted(read.bad)
    assert any(r["line"] == "[1, 2, 3]" for r in rejected)


def test_required_fields_only_and_missing_session(tmp_path: Path, catalog: Catalog) -> None:
    lines = [
        json.dumps({"ts": ISO, "user_id": "u1", "event_type": "purchase", "product_id": p})
        for p in "AB"
    ]
    write_lines(tmp_path / "ev/part.jsonl", lines)
    frame = events.read_events(str(tmp_path / "ev"), catalog).frame.compute()
    assert (
        len(frame) == 2 and frame["okey"].nunique() == 1
    )  # same user, same half hour: one occasion
    assert frame["price"].tolist() == [10.0, 20.0] and frame["qty"].tolist() == [1, 1]


def _mixed_root(root: Path) -> None:
    write_lines(
        root / "dt=2026-09-19/part-0000.jsonl.gz", [ev(ts="2026-09-19T08:00:00Z"), "oops"], gz=True
    )
    write_lines(root / "dt=2026-09-20/part-0000.jsonl", [ev(user_id="u2")])
    (root / "dt=2026-09-21").mkdir(parents=True)
    pd.DataFrame(
        {
            "ts": pd.to_datetime(["2026-09-21T09:00:00Z", "2026-09-21T09:01:00Z"], utc=True),
            "user_id": ["u3", None],
            "session_id": ["s3", "s4"],
            "event_type": ["purchase", "view"],
            "product_id": ["C", "C"],
            "quantity": [2, None],
            "price": [None, None],
        }
    ).to_parquet(root / "dt=2026-09-21/part-0000.parquet")
    (root / "_SUCCESS").write_text("")


def test_gzip_plain_and_parquet_hive_partitions(tmp_path: Path, catalog: Catalog) -> None:
    _mixed_root(tmp_path)
    files = list_files(str(tmp_path), {})
    assert [(f.relative, f.fmt, f.day) for f in files] == [
        ("dt=2026-09-19/part-0000.jsonl.gz", "json", date(2026, 9, 19)),
        ("dt=2026-09-20/part-0000.jsonl", "json", date(2026, 9, 20)),
        ("dt=2026-09-21/part-0000.parquet", "parquet", date(2026, 9, 21)),
    ]
    read = events.read_events(str(tmp_path), catalog)
    assert (read.files, read.lines, read.valid, read.anonymous) == (3, 5, 4, 1)
    assert read.bad == {"malformed_json": 1}  # the parquet view of session s4 is anonymous
    frame = read.frame.compute().sort_values("ts")
    purchase = frame[frame["etype"] == codes.PURCHASE].iloc[0]
    assert purchase["qty"] == 2 and purchase["price"] == 30.0
    assert purchase["ts"] == int(pd.Timestamp("2026-09-21T09:00:00Z").value // 10**6)
    # a partition dated after the as-of day cannot hold earlier events: not even opened
    assert events.read_events(str(tmp_path), catalog, until=date(2026, 9, 20)).files == 2


def test_missing_root_is_an_error(tmp_path: Path, catalog: Catalog) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        events.read_events(str(tmp_path / "nope"), catalog)


def test_read_from_s3_on_moto(moto_endpoint: str, s3_bucket: str, catalog: Catalog) -> None:
    fs = s3fs.S3FileSystem(endpoint_url=moto_endpoint)
    with fs.open(f"{s3_bucket}/events/dt=2026-09-20/part-0000.jsonl.gz", "wb") as f:
        f.write(gzip.compress((ev() + "\n" + ev(event_type="bogus") + "\n").encode()))
    with fs.open(f"{s3_bucket}/events/dt=2026-09-21/part-0000.parquet", "wb") as f:
        pd.DataFrame(
            {"ts": [ISO_MS], "user_id": ["u9"], "event_type": ["add_to_cart"], "product_id": ["B"]}
        ).to_parquet(f)
    read = events.read_events(
        f"s3://{s3_bucket}/events",
        catalog,
        s3_endpoint_url=moto_endpoint,
        quarantine=f"s3://{s3_bucket}/quarantine",
    )
    assert (read.files, read.lines, read.valid, read.bad) == (2, 3, 2, {"unknown_event_type": 1})
    assert sorted(read.users.compute()["user_id"]) == ["u1", "u9"]
    keys = [
        o["Key"] for o in s3_client(moto_endpoint).list_objects_v2(Bucket=s3_bucket)["Contents"]
    ]
    assert "quarantine/dt=2026-09-20/part-0000.rejected.jsonl" in keys


def test_lone_surrogate_escape_is_a_malformed_line(tmp_path: Path, catalog: Catalog) -> None:
    # json.loads accepts "\ud800" but no UTF-8 text holds it: the line is counted, not fatal.
    good = (
        '{"ts": "2026-09-20T10:00:00Z", "user_id": "u1", "event_type": "view", "product_id": "A"}'
    )
    bad = good.replace('"u1"', '"u\\ud800"')
    path = tmp_path / "dt=2026-09-20" / "part-0.jsonl.gz"
    path.parent.mkdir()
    with gzip.open(path, "wt") as f:
        f.write(f"{good}\n{bad}\n")
    read = events.read_events(str(tmp_path), catalog)
    assert (read.valid, read.bad) == (1, {"malformed_json": 1})


def test_stray_bytes_make_their_line_malformed(tmp_path: Path, catalog: Catalog) -> None:
    # A log shipper's stray byte costs its line, not the file (and the run).
    good = (
        b'{"ts": "2026-09-20T10:00:00Z", "user_id": "u1", "event_type": "view", "product_id": "A"}'
    )
    in_string = good.replace(b'"u1"', b'"u\xff"')
    outside = good[:-1] + b", \xfe}"
    path = tmp_path / "events" / "dt=2026-09-20" / "part-0.jsonl.gz"
    path.parent.mkdir(parents=True)
    with gzip.open(path, "wb") as f:
        f.write(b"\n".join([good, in_string, outside, good]) + b"\n")
    quarantine = tmp_path / "bad"
    read = events.read_events(str(tmp_path / "events"), catalog, quarantine=str(quarantine))
    assert (read.lines, read.valid, read.bad) == (4, 2, {"malformed_json": 2})
    rejected = (quarantine / "dt=2026-09-20" / "part-0.rejected.jsonl").read_text().splitlines()
    assert [json.loads(r)["reason"] for r in rejected] == ["malformed_json"] * 2


def test_gzip_files_of_several_members_are_read_whole(tmp_path: Path) -> None:
    """gzip allows members one after the other (``cat a.gz b.gz``): every one is read, with a
    .gz suffix or, in a Firehose hour folder, by the magic bytes; a .gz that is not gzip is
    refused as gzip refuses it."""
    first, second = b'{"a": 1}\n' * 500, b'{"b": 2}\n' * 700
    both = gzip.compress(first) + gzip.compress(second)
    named = tmp_path / "part.jsonl.gz"
    named.write_bytes(both)
    hourly = tmp_path / "2026" / "10" / "01" / "07" / "stream-1-2026-10-01-07-00-00-abc"
    hourly.parent.mkdir(parents=True)
    hourly.write_bytes(both)
    plain = tmp_path / "plain.jsonl"
    plain.write_bytes(first)
    assert read_bytes(str(named), {}) == first + second
    assert read_bytes(str(hourly), {}) == first + second
    assert read_bytes(str(plain), {}) == first
    fake = tmp_path / "fake.jsonl.gz"
    fake.write_bytes(first)
    with pytest.raises(gzip.BadGzipFile):
        read_bytes(str(fake), {})


def test_users_come_once_per_part_of_several_files(tmp_path: Path, catalog: Catalog) -> None:
    # 20 daily files, each with users u0..u4 plus one of its own: 3 parts of distinct users
    for day in range(20):
        users = [f"u{i}" for i in range(5)] + [f"only{day}"]
        write_lines(
            tmp_path / f"dt=2026-09-{day + 1:02d}" / "part-0000.jsonl",
            [ev(ts=ISO_MS + day * 86_400_000, user_id=u) for u in users],
        )
    read = events.read_events(str(tmp_path), catalog)
    k = events.USER_FILES_PER_PART
    assert read.users.npartitions == -(-20 // k) > 1
    parts = [read.users.get_partition(i).compute() for i in range(read.users.npartitions)]
    assert all(p["uid"].is_unique for p in parts)
    assert [len(p) for p in parts] == [5 + min(k, 20 - k * i) for i in range(len(parts))]
    everyone = pd.concat(parts).drop_duplicates("uid")
    assert sorted(everyone["user_id"]) == sorted(
        [f"u{i}" for i in range(5)] + [f"only{d}" for d in range(20)]
    )
    assert (everyone["uid"] == codes.user_keys(everyone["user_id"])).all()
