"""sources/jsonlines.py and json_file.py: the Arrow and line-by-line parses agree, lines are
split as text mode splits them, and chunked parses equal whole ones."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from profile_engine.compute.catalog import Catalog
from profile_engine.sources import files, json_file, jsonlines
from profile_engine.sources.parsed import ParsedPart
from tests.profile_engine.event_lines import ISO_MS, ev


def _parse_both_ways(
    lines: list[str], catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> tuple[ParsedPart, ParsedPart, bool]:
    """parse_lines as it chooses, then forced line by line; and whether Arrow read the file."""
    line_path: list[int] = []
    each = jsonlines._read_each
    monkeypatch.setattr(jsonlines, "_read_each", lambda ls: line_path.append(1) or each(ls))
    chosen = jsonlines.parse_lines(lines, "f.jsonl", catalog, None, {})
    used_arrow = not line_path
    monkeypatch.setattr(jsonlines, "_read_whole", lambda ls: None)
    forced = jsonlines.parse_lines(lines, "f.jsonl", catalog, None, {})
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
    assert chosen.stats.lines == sum(1 for x in lines if x.strip())


def test_line_path_reads_what_json_loads_reads() -> None:
    # orjson first, json.loads where they differ: beyond-64-bit integers, NaN; a lone
    # surrogate json.loads reads is no text, so that line is malformed
    big = '{"user_id": 18446744073709551616}'
    assert jsonlines._loads(big, long_ints=True) == {"user_id": 2**64}
    assert jsonlines._loads('{"price": NaN}', long_ints=False)["price"] != 0
    assert jsonlines._loads('{"u": "\\ud800"}', long_ints=False) is None
    assert jsonlines._loads('{"u": "\\ud83d\\ude00"}', long_ints=False) == {"u": "\U0001f600"}
    assert jsonlines._loads("{oops", long_ints=False) is None


def test_file_lines_split_on_newlines_only(tmp_path: Path) -> None:
    # \r\n and \r end lines as in text mode; U+2028 (valid inside a JSON string) does not.
    path = tmp_path / "e.jsonl.gz"
    with gzip.open(path, "wb") as f:
        f.write('{"a": "x\u2028y"}\r\n{"b": 1}\r{"c": 2}\n\n{"d": 3}'.encode())
    assert jsonlines.split_lines(files.read_bytes(str(path), {})) == [
        '{"a": "x\u2028y"}',
        '{"b": 1}',
        '{"c": 2}',
        "",
        '{"d": 3}',
    ]
    plain = tmp_path / "e.jsonl"
    plain.write_text('{"a": 1}\n')
    assert jsonlines.split_lines(files.read_bytes(str(plain), {})) == ['{"a": 1}']


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
    found = jsonlines.object_line_ends(data)
    assert (None if found is None else found.tolist()) == ends
    if found is not None:  # the lines are the pieces between the ends
        starts, stops = [0, *(found + 1)], [*found, len(data) - data.endswith(b"\n")]
        pieces = [data[a:b].decode() for a, b in zip(starts, stops, strict=True)]
        assert jsonlines.split_lines(data) == pieces


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
    ends = jsonlines.object_line_ends(data)
    assert ends is not None and len(ends) + 1 == len(lines)
    assert (jsonlines._read_arrow(data, len(lines)) is not None) == arrow
    got = jsonlines.parse_object_lines(
        data, len(lines), "f.jsonl", catalog, str(tmp_path / "a"), {}
    )
    want = jsonlines.parse_lines(lines, "f.jsonl", catalog, str(tmp_path / "b"), {})
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
    lines[5] = ev(user_id=None, session_id=None)  # neither user nor session: a reject
    lines[13] = ev(price=float("nan"))  # Arrow reads NaN too: its chunk goes line by line
    lines[17] = "{oops}"  # so does this one's
    path = tmp_path / "f.jsonl.gz"
    path.write_bytes(gzip.compress((newline.join(lines) + last).encode()))
    ends = jsonlines.object_line_ends(files.read_bytes(str(path), {}))
    assert (ends is not None) == as_bytes  # else split into lines of text
    whole = jsonlines.parse_lines(lines, "f.jsonl", catalog, None, {})
    for chunk in (1, 3, 7, 20, 100):
        part = json_file.parse_json_file(str(path), "f.jsonl", catalog, None, {}, {}, chunk)
        pd.testing.assert_frame_equal(part.frame, whole.frame, check_exact=True)
        pd.testing.assert_frame_equal(part.users, whole.users, check_exact=True)
        assert part.stats == whole.stats
    assert whole.stats.bad == {"missing_user_id": 1, "malformed_json": 1}
