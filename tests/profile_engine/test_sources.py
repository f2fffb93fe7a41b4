"""sources/*: event files (bad lines, formats, Hive partitions, S3 on moto), replica reads."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dask
import pandas as pd
import pyarrow as pa
import pytest
import s3fs
import sqlalchemy as sa

from profile_engine import partitions, synthetic
from profile_engine.compute import codes
from profile_engine.compute.catalog import Catalog
from profile_engine.sources import events, replica
from tests.conftest import s3_client

ISO = "2026-09-20T10:00:00Z"
ISO_MS = 1_789_898_400_000


@pytest.fixture(autouse=True)
def _sync_scheduler() -> Iterator[None]:
    # Source functions are plain dask graphs: the synchronous scheduler runs them in-process.
    with dask.config.set(scheduler="sync"):
        yield


def ev(**fields: object) -> str:
    return json.dumps(
        {
            "ts": ISO,
            "user_id": "u1",
            "session_id": "s1",
            "event_type": "view",
            "product_id": "A",
            **fields,
        }
    )


BAD_FILE = [
    ev(),  # valid view
    ev(event_type="add_to_cart", ts=ISO_MS + 1000, price=12.5, quantity=2),  # epoch ms, own price
    ev(event_type="search", product_id=None, query="atlas"),  # search: no product needed
    ev(ts="2026-09-20T12:00:00+02:00", user_id=7),  # offset timestamp, numeric user id
    ev(product_id="ZZ"),  # valid line, product unknown to the catalogue
    '{"ts": "2026-09-20T10:00:00Z", "user_id": ',  # truncated
    "[1, 2, 3]",  # JSON, not an object
    ev(user_id=None),
    ev(user_id="  "),
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


def write_lines(path: Path, lines: list[str], gz: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if gz else data)


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


def _parse_both_ways(
    lines: list[str], catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> tuple[events.ParsedPart, events.ParsedPart, bool]:
    """parse_lines as it chooses, then forced line by line; and whether Arrow read the file."""
    line_path: list[int] = []
    each = events._read_each
    monkeypatch.setattr(events, "_read_each", lambda ls: line_path.append(1) or each(ls))
    chosen = events.parse_lines(lines, "f.jsonl", catalog, None, {})
    used_arrow = not line_path
    monkeypatch.setattr(events, "_read_whole", lambda ls: None)
    forced = events.parse_lines(lines, "f.jsonl", catalog, None, {})
    return chosen, forced, used_arrow


GOOD_LINES = [
    ev(),
    ev(event_type=" PURCHASE ", price=12.5, quantity=2, session_id=None),
    ev(user_id=" u2 ", event_type="search", product_id=None),
    ev(ts=str(ISO_MS + 5)),  # epoch ms as digits
    ev(ts="2026-09-20T12:00:00+02:00", user_id="\x1cu3"),
    ev(product_id="ZZ"),
    ev(user_id="  ", quantity=1e12),
    ev(ts="2026-02-30T00:00:00Z"),
    ev(event_type="wishlist", price=-1),
    ev(user_id="\u00fcber", session_id=" "),  # not ASCII: the per-value path
    "  ",
]


@pytest.mark.parametrize(
    ("lines", "arrow"),
    [
        (GOOD_LINES, True),  # Arrow reads the whole file
        ([ev(ts=ISO_MS + i) for i in range(3)] + [ev(ts=None)], True),  # numeric ts: inferred
        (GOOD_LINES + ["{oops"], False),  # a malformed line: line by line
        (GOOD_LINES + [ev(user_id=7)], False),  # a column changes type
        (GOOD_LINES + [ev(price=float("inf"))], False),  # Infinity: json.loads' rules
        (GOOD_LINES + ['{"user_id": "u1"} {"user_id": "u2"}'], False),  # two objects, one line
    ],
)
def test_whole_file_and_line_by_line_parses_agree(
    lines: list[str], arrow: bool, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    chosen, forced, used_arrow = _parse_both_ways(lines, catalog, monkeypatch)
    assert used_arrow == arrow
    pd.testing.assert_frame_equal(chosen.frame, forced.frame, check_exact=True)
    pd.testing.assert_frame_equal(chosen.users, forced.users, check_exact=True)
    assert chosen.stats == forced.stats
    assert chosen.stats["lines"] == sum(1 for x in lines if x.strip())


def test_line_path_reads_what_json_loads_reads() -> None:
    # orjson first, json.loads where they differ: beyond-64-bit integers, NaN; a lone
    # surrogate json.loads reads is no text, so that line is malformed
    big = '{"user_id": 18446744073709551616}'
    assert events._loads(big, long_ints=True) == {"user_id": 2**64}
    assert events._loads('{"price": NaN}', long_ints=False)["price"] != 0
    assert events._loads('{"u": "\\ud800"}', long_ints=False) is None
    assert events._loads('{"u": "\\ud83d\\ude00"}', long_ints=False) == {"u": "\U0001f600"}
    assert events._loads("{oops", long_ints=False) is None


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
    files = events.list_files(str(tmp_path), {})
    assert [(f.relative, f.fmt, f.day) for f in files] == [
        ("dt=2026-09-19/part-0000.jsonl.gz", "json", date(2026, 9, 19)),
        ("dt=2026-09-20/part-0000.jsonl", "json", date(2026, 9, 20)),
        ("dt=2026-09-21/part-0000.parquet", "parquet", date(2026, 9, 21)),
    ]
    read = events.read_events(str(tmp_path), catalog)
    assert (read.files, read.lines, read.valid) == (3, 5, 3)
    assert read.bad == {"malformed_json": 1, "missing_user_id": 1}
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


# -- replica ------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def replica_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shop.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture(scope="module")
def small_shop() -> synthetic.Shop:
    return synthetic.generate(users=150, products=60, days=5, seed=3)


def test_partitioned_reads_cover_each_table_once(
    replica_url: str, small_shop: synthetic.Shop
) -> None:
    synthetic.write_tables(small_shop, replica_url)
    customers = replica.read_table(replica_url, "customers", replica.CUSTOMERS, partition_rows=40)
    assert customers.partitions == 4 and customers.rows == 150 and customers.warnings == []
    got = customers.frame.compute()
    assert got["customer_id"].is_unique and len(got) == 150  # string key ranges tile the table
    expected = small_shop.customers.set_index("customer_id")
    row = got.set_index("customer_id").loc["u000042"]
    assert row["email"] == expected.loc["u000042", "email"]
    assert bool(row["marketing_opt_in"]) == bool(expected.loc["u000042", "marketing_opt_in"])

    lines = replica.read_order_lines(replica_url, partition_rows=50)
    assert lines.partitions > 1 and lines.rows == len(small_shop.order_items)
    got_lines = lines.frame.compute()
    assert len(got_lines) == len(small_shop.order_items)
    assert got_lines.dtypes["order_id"] == "int64" and got_lines.dtypes["created_at"] == "int64"
    joined = small_shop.order_items.merge(small_shop.orders, on="order_id")
    first = joined.sort_values("order_item_id").iloc[0]
    match = got_lines[
        (got_lines["order_id"] == first["order_id"])
        & (got_lines["product_id"] == first["product_id"])
    ]
    assert match["customer_id"].tolist() == [first["customer_id"]]
    assert match["created_at"].tolist() == [int(first["created_at"].value // 10**6)]
    assert match["status"].tolist() == [first["status"]]


def test_missing_columns_and_tables_degrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'thin.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE products (product_id TEXT PRIMARY KEY, price REAL)"))
        conn.execute(sa.text("INSERT INTO products VALUES ('A', 1.5), ('B', NULL)"))
        conn.execute(
            sa.text(
                "CREATE TABLE orders (order_id INTEGER PRIMARY KEY, customer_id TEXT, "
                "created_at TEXT, total REAL)"
            )
        )
        conn.execute(sa.text("INSERT INTO orders VALUES (1, 'u1', '2026-09-01 10:00:00', 9.5)"))
    engine.dispose()
    products = replica.read_table(url, "products", replica.PRODUCTS, 1000)
    assert products.warnings == [
        "products.name is missing: using '' for every row",
        "products.category is missing: using '' for every row",
        "products.in_stock is missing: using True for every row",
    ]
    frame = products.frame.compute()
    assert frame["in_stock"].tolist() == [True, True] and frame["category"].tolist() == ["", ""]
    assert Catalog.from_frame(frame).categories == ("uncategorized",)

    customers = replica.read_table(url, "customers", replica.CUSTOMERS, 1000)
    assert customers.frame is None and customers.warnings == ["replica has no customers table"]

    orders = replica.read_order_lines(url, 1000)
    assert orders.warnings[0].startswith("replica has no usable order_items table")
    got = orders.frame.compute()
    assert got[["order_id", "customer_id", "status", "total"]].values.tolist() == [
        [1, "u1", "completed", 9.5]
    ]
    assert got["created_at"].tolist() == [int(pd.Timestamp("2026-09-01T10:00:00Z").value // 10**6)]


def test_missing_required_column_skips_table(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bad.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE orders (order_id INTEGER PRIMARY KEY, created_at TEXT)"))
    engine.dispose()
    read = replica.read_order_lines(url, 1000)
    assert read.frame is None
    assert "orders.customer_id is missing: orders cannot be used" in read.warnings
    assert replica.read_order_lines(f"sqlite:///{tmp_path / 'empty.db'}", 1000).warnings == [
        "replica has no orders table: purchases come from events only"
    ]


def test_file_lines_split_on_newlines_only(tmp_path: Path) -> None:
    # \r\n and \r end lines as in text mode; U+2028 (valid inside a JSON string) does not.
    path = tmp_path / "e.jsonl.gz"
    with gzip.open(path, "wb") as f:
        f.write('{"a": "x\u2028y"}\r\n{"b": 1}\r{"c": 2}\n\n{"d": 3}'.encode())
    assert events.split_lines(events.read_bytes(str(path), {})) == [
        '{"a": "x\u2028y"}',
        '{"b": 1}',
        '{"c": 2}',
        "",
        '{"d": 3}',
    ]
    plain = tmp_path / "e.jsonl"
    plain.write_text('{"a": 1}\n')
    assert events.split_lines(events.read_bytes(str(plain), {})) == ['{"a": 1}']


@pytest.mark.parametrize(
    ("data", "ends"),
    [
        (b'{"a": 1}\n{"b": 2}\n', [8]),
        (b'{"a": 1}\n{"b": "\\u00fc"}', [8]),  # no last newline
        ('{"a": "\u00fc\u2028"}'.encode(), []),  # UTF-8, U+2028 inside a string
        (b'{"a": 1} {"b": 2}', []),  # Arrow reads two rows here: parse_object_lines refuses it
        (b"", None),
        (b"\n", None),
        (b'{"a": 1}\n\n{"b": 2}\n', None),  # blank line
        (b'{"a": 1}\r\n{"b": 2}\r\n', None),
        (b'{"a": 1}\r{"b": 2}', None),
        (b' {"a": 1}\n', None),  # blanks around an object
        (b'{"a": 1}\t\n', None),
        ('\ufeff{"a": 1}\n'.encode(), None),  # BOM
        (b"[1]\n", None),
        (b'{"a": 1,\n"b": 2}\n', None),  # an object over two lines
        (b'{"a": "\xff"}\n', None),  # not UTF-8: the line path makes the line malformed
    ],
)
def test_object_line_ends_accepts_only_one_object_per_line(
    data: bytes, ends: list[int] | None
) -> None:
    found = events.object_line_ends(data)
    assert (None if found is None else found.tolist()) == ends
    if found is not None:  # the lines are the pieces between the ends
        starts, stops = [0, *(found + 1)], [*found, len(data) - data.endswith(b"\n")]
        pieces = [data[a:b].decode() for a, b in zip(starts, stops, strict=True)]
        assert events.split_lines(data) == pieces


def _as_bytes(lines: list[str]) -> bytes:
    return "\n".join(lines).encode()


@pytest.mark.parametrize(
    ("lines", "arrow"),
    [
        (GOOD_LINES[:-1], True),
        ([ev(ts=ISO_MS + i) for i in range(3)] + [ev(ts=None)], True),
        (GOOD_LINES[:-1] + [ev(user_id=7)], False),  # a column changes type
        (GOOD_LINES[:-1] + ['{"price": Inf, "user_id": "u1"}'], False),  # Arrow reads Inf
        (GOOD_LINES[:-1] + ['{"user_id": "u1"} {"user_id": "u2"}'], False),  # two objects
        (GOOD_LINES[:-1] + ['{"user_id": "u1", "ts": 18446744073709551616}'], False),
    ],
)
def test_object_lines_parse_as_their_lines(
    lines: list[str], arrow: bool, tmp_path: Path, catalog: Catalog
) -> None:
    data = _as_bytes(lines)
    ends = events.object_line_ends(data)
    assert ends is not None and len(ends) + 1 == len(lines)
    assert (events._read_arrow(data, len(lines)) is not None) == arrow
    got = events.parse_object_lines(data, len(lines), "f.jsonl", catalog, str(tmp_path / "a"), {})
    want = events.parse_lines(lines, "f.jsonl", catalog, str(tmp_path / "b"), {})
    pd.testing.assert_frame_equal(got.frame, want.frame, check_exact=True)
    pd.testing.assert_frame_equal(got.users, want.users, check_exact=True)
    assert got.stats == want.stats
    rejected = [(tmp_path / d / "f.rejected.jsonl").read_bytes() for d in "ab"]
    assert rejected[0] == rejected[1] != b""


@pytest.mark.parametrize(
    ("newline", "last", "as_bytes"),
    [("\n", "\n", True), ("\n", "", True), ("\r\n", "\r\n", False), ("\n", "\n\n", False)],
)
def test_json_file_parsed_in_chunks_of_bytes_or_lines(
    newline: str, last: str, as_bytes: bool, tmp_path: Path, catalog: Catalog
) -> None:
    lines = [ev(ts=ISO_MS + i, user_id=f"u{i % 3}") for i in range(20)]
    lines[5] = ev(user_id=None)
    lines[13] = ev(price=float("nan"))  # Arrow reads NaN too: its chunk goes line by line
    lines[17] = "{oops}"  # so does this one's
    path = tmp_path / "f.jsonl.gz"
    path.write_bytes(gzip.compress((newline.join(lines) + last).encode()))
    ends = events.object_line_ends(events.read_bytes(str(path), {}))
    assert (ends is not None) == as_bytes  # else split into lines of text
    whole = events.parse_lines(lines, "f.jsonl", catalog, None, {})
    for chunk in (1, 3, 7, 20, 100):
        part = partitions.parse_json_file(str(path), "f.jsonl", catalog, None, {}, {}, chunk)
        pd.testing.assert_frame_equal(part.frame, whole.frame, check_exact=True)
        pd.testing.assert_frame_equal(part.users, whole.users, check_exact=True)
        assert part.stats == whole.stats
    assert whole.stats["bad"] == {"missing_user_id": 1, "malformed_json": 1}


def test_product_codes_in_arrow_are_the_catalogues(catalog: Catalog) -> None:
    products = pa.array(["A", "F", "ZZ", None, "", " A", "a"], pa.large_string())
    want = catalog.codes(pd.Series(products.to_pylist(), dtype=object).fillna(""))
    assert events._product_codes(catalog, products).tolist() == want.tolist()
    assert want.tolist() == [0, 5, -1, -1, -1, -1, -1]


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
