"""sources/validation.py and parsed.py: catalogue codes in Arrow, parse counts that add up."""

from __future__ import annotations

import json
from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa

import clickstream
from profile_engine.compute import codes
from profile_engine.compute.catalog import Catalog
from profile_engine.sources import validation
from profile_engine.sources.parsed import ParseStats
from tests.profile_engine.event_lines import ISO_MS, ev


def test_product_codes_in_arrow_are_the_catalogues(catalog: Catalog) -> None:
    products = pa.array(["A", "F", "ZZ", None, "", " A", "a"], pa.large_string())
    want = catalog.codes(pd.Series(products.to_pylist(), dtype=object).fillna(""))
    assert validation._product_codes(catalog, products).tolist() == want.tolist()
    assert want.tolist() == [0, 5, -1, -1, -1, -1, -1]


def test_parse_stats_add_up_and_empty_adds_nothing() -> None:
    a = ParseStats(
        lines=3, valid=2, bad={"bad_ts": 1}, types={"view": 2}, modelled=2, min_ts=5, max_ts=9
    )
    b = ParseStats(
        lines=4,
        valid=2,
        bad={"bad_ts": 1, "malformed_json": 1},
        types={"purchase": 1, "add_to_cart": 1},
        anonymous=1,
        modelled=0,
        unknown_products=1,
        min_ts=1,
        max_ts=7,
    )
    total = ParseStats(
        lines=7,
        valid=4,
        bad={"malformed_json": 1, "bad_ts": 2},
        types={"add_to_cart": 1, "purchase": 1, "view": 2},
        anonymous=1,
        modelled=2,
        unknown_products=1,
        min_ts=1,
        max_ts=9,
    )
    assert a + b == b + a == sum([a, b], ParseStats()) == total
    # a sum lists reasons as the report does: REASONS order, event types by name
    assert list((a + b).bad) == ["malformed_json", "bad_ts"]
    assert list((a + b).types) == ["add_to_cart", "purchase", "view"]
    assert a + ParseStats() == ParseStats() + a == a
    no_valid = ParseStats(lines=1, bad={"bad_ts": 1})
    assert (no_valid + ParseStats()).min_ts is None and (no_valid + a).max_ts == 9


def test_stats_of_parts_add_up_to_the_whole(catalog: Catalog) -> None:
    lines = [
        ev(ts=ISO_MS + i, user_id=f"u{i % 3}", event_type=("view", "purchase", "search")[i % 3])
        for i in range(12)
    ]
    lines[2], lines[7], lines[9] = ev(user_id=None), ev(product_id="ZZ"), ev(ts="never")
    raw = pd.DataFrame.from_records([json.loads(line) for line in lines])
    whole = validation.validate(raw, catalog)[0].stats
    # line 2 is anonymous (session s1, no user): valid, counted apart
    assert (whole.lines, whole.valid, whole.unknown_products, whole.anonymous) == (12, 11, 1, 1)
    for cut in (1, 5, 11):
        parts = [validation.validate(rows, catalog)[0].stats for rows in (raw[:cut], raw[cut:])]
        assert sum(parts, ParseStats()) == whole


def test_codes_follow_the_clickstream_contract() -> None:
    assert sorted(codes.EVENT_TYPES) == sorted(clickstream.EVENT_TYPES)
    assert sorted(codes.EVENT_NAMES) == list(range(len(clickstream.EVENT_TYPES)))
    # the modelled types first, rising with their weight: max(etype) is the strongest
    assert (codes.VIEW, codes.ADD_TO_CART, codes.PURCHASE) == (0, 1, 2)
    assert sorted(codes.MODELLED.tolist()) == [0, 1, 2]
    assert codes.EVENT_WEIGHTS.tolist() == [1.0, 3.0, 5.0] + [0.0] * 4
    assert {codes.EVENT_NAMES[c] for c in codes.PRODUCT_EVENTS} == set(clickstream.PRODUCT_TYPES)


def test_arrow_and_pandas_paths_agree_on_types_and_anonymous(catalog: Catalog) -> None:
    lines = [
        ev(ts=ISO_MS + i, event_type=t, user_id=u, session_id=s, product_id=p)
        for i, (t, u, s, p) in enumerate(
            [
                ("view", "u1", "s1", "A"),
                ("impression", "u1", "s1", None),
                ("click", None, "s2", "B"),
                ("view", None, "s2", "B"),
                ("purchase", "u2", None, "C"),
                ("remove_from_cart", "u2", None, "C"),
                ("search", None, None, None),
                ("click", "u2", "s3", None),
                ("add_to_cart", " ", " s4 ", "ZZ"),
                ("add_to_cart", "u3", "s5", "ZZ"),
            ]
        )
    ]
    records = [json.loads(line) for line in lines]
    table = pa.Table.from_pylist(records)
    frame = pd.DataFrame.from_records(records).astype(object)  # the per-value path
    (arrow, arrow_reason), (pandas, pandas_reason) = (
        validation.validate(raw, catalog) for raw in (table, frame)
    )
    assert (
        arrow_reason.tolist()
        == pandas_reason.tolist()
        == ["", "", "", "", "", "", "missing_user_id", "missing_product_id", "", ""]
    )
    assert arrow.stats == pandas.stats
    stats = arrow.stats
    assert (stats.valid, stats.anonymous, stats.unknown_products, stats.modelled) == (8, 3, 1, 2)
    assert arrow.stats.types == {
        "add_to_cart": 2,
        "click": 1,
        "impression": 1,
        "purchase": 1,
        "remove_from_cart": 1,
        "view": 2,
    }
    pd.testing.assert_frame_equal(arrow.frame, pandas.frame)
    assert arrow.frame["etype"].tolist() == [codes.VIEW, codes.PURCHASE]
    assert sorted(arrow.users["user_id"]) == sorted(pandas.users["user_id"]) == ["u1", "u2", "u3"]


def _pandas_ms(strings: list[str | None]) -> np.ndarray:
    """What pandas reads, as exact decimals of the millisecond (NaN outside the window)."""
    out = []
    for ts in pd.to_datetime(strings, utc=True, errors="coerce", format="ISO8601"):
        try:
            ms = np.nan if ts is pd.NaT else float(Decimal(ts.value) / 10**6)
        except OverflowError:  # past 2262: outside the window
            ms = np.nan
        out.append(ms if validation.MIN_TS_MS <= ms < validation.MAX_TS_MS else np.nan)
    return np.array(out)


ISO_FORMS = [
    "2026-10-01T00:00:52.146Z",
    "2026-10-01 00:00:52Z",
    "2026-10-01T00:00:52.146+02:00",
    "2026-10-01T00:00:52+0200",
    "2026-10-01T00:00:52.146-05",
    "2026-10-01T00:00:52.123456789Z",
    "2026-10-01T00:00Z",
    "2026-10-01T00Z",
    # forms Arrow refuses: pandas reads the whole column then
    "2026-10-01",
    "2026-10-01T00:00:52",
    "20261001T000052Z",
    "2026-10-01T00:00:52.Z",
    " 2026-10-01T00:00:52Z",
    "2026-10-01T24:00:00Z",
    "2026-02-30T00:00:00Z",
    "2026-10-01t00:00:52z",
    "9999-12-31T00:00:00Z",
    "1999-12-31T23:59:59.999Z",
]


def test_iso_timestamps_read_as_pandas_reads_them() -> None:
    # each form alone (Arrow's parser where it reads it), then all in one column (pandas')
    for form in ISO_FORMS:
        got = validation._parse_ts(pa.array([form], pa.large_string()))
        np.testing.assert_array_equal(got, _pandas_ms([form]), err_msg=form)
    mixed = validation._parse_ts(pa.array(ISO_FORMS + [None], pa.large_string()))
    np.testing.assert_array_equal(mixed, _pandas_ms(ISO_FORMS + [None]))
    # a day of millisecond timestamps in several zones, to the bit
    rng = np.random.default_rng(3)
    stamps = pd.to_datetime(ISO_MS + rng.integers(0, 86_400_000, 2_000), unit="ms", utc=True)
    zones = rng.choice(["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"], 2_000)
    text = [
        t.tz_convert(z).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        for t, z in zip(stamps, zones, strict=True)
    ]
    got = validation._parse_ts(pa.array(text, pa.large_string()))
    np.testing.assert_array_equal(got, _pandas_ms(text))
    assert (got == stamps.as_unit("ms").asi8).all()  # whole milliseconds, none truncated down
