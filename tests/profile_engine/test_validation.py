"""sources/validation.py and parsed.py: catalogue codes in Arrow, parse counts that add up."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa

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
    a = ParseStats(lines=3, valid=2, bad={"bad_ts": 1}, types={"view": 2}, min_ts=5, max_ts=9)
    b = ParseStats(
        lines=4,
        valid=2,
        bad={"bad_ts": 1, "malformed_json": 1},
        types={"purchase": 1, "add_to_cart": 1},
        unknown_products=1,
        min_ts=1,
        max_ts=7,
    )
    total = ParseStats(
        lines=7,
        valid=4,
        bad={"malformed_json": 1, "bad_ts": 2},
        types={"add_to_cart": 1, "purchase": 1, "view": 2},
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
    assert (whole.lines, whole.valid, whole.unknown_products) == (12, 10, 1)
    for cut in (1, 5, 11):
        parts = [validation.validate(rows, catalog)[0].stats for rows in (raw[:cut], raw[cut:])]
        assert sum(parts, ParseStats()) == whole
