"""Parse JSON Lines as json.loads reads each line: by Arrow when it agrees, else line by line."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from profile_engine.compute.catalog import Catalog
from profile_engine.sources.parsed import ParsedPart, ParseStats
from profile_engine.sources.quarantine import write_rejected
from profile_engine.sources.validation import FIELDS, NUMBER_FIELDS, TEXT_FIELDS, validate

# Tokens Arrow's JSON parser accepts but json.loads rejects (Inf, -NaN): such files go the
# line path, where json.loads decides.
_ARROW_ONLY = (b"NaN", b"Inf")
# Integers beyond 64 bits: orjson and Arrow read them as floats, json.loads as ints.
_LONG_INT = re.compile(r"\d{19}")
_NEWLINE, _OPEN, _CLOSE = b"\n"[0], b"{"[0], b"}"[0]
# Each file is a task, and the tasks already keep every core busy: Arrow's own threads
# only added their hand-offs (9% more CPU per file).
_ONE_THREAD = pa_json.ReadOptions(use_threads=False)


def split_lines(data: bytes) -> list[str]:
    """The lines of ``data`` as ``open()`` in text mode would give them: UTF-8, universal
    newlines (\\n, \\r\\n or \\r; a U+2028 inside a JSON string does not end a line, as it
    would for str.splitlines). Bytes that are not UTF-8 become lone surrogates
    (surrogateescape), so their line is malformed (``_loads``) instead of the whole file
    failing to decode."""
    text = data.decode("utf-8", errors="surrogateescape")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if lines and not lines[-1]:
        lines.pop()
    return lines


def object_line_ends(data: bytes) -> np.ndarray | None:
    """Offsets of the newlines between the lines of ``data`` when every line is one `{...}`
    with nothing around it, no \\r and valid UTF-8: then split_lines gives exactly the pieces
    between these offsets, and stripping or dropping blank lines changes none. None otherwise
    (blank lines, blanks around objects, other line ends, an empty file, not UTF-8)."""
    size = len(data) - data.endswith(b"\n")  # a last newline ends the last line
    if size == 0 or b"\r" in data or not _is_utf8(data):
        return None
    chars = np.frombuffer(data, np.uint8, count=size)
    if chars[0] != _OPEN or chars[-1] != _CLOSE:
        return None
    # Not first nor last (those are braces): every newline has a neighbour on both sides.
    ends = np.flatnonzero(chars == _NEWLINE)
    if not ((chars[ends - 1] == _CLOSE).all() and (chars[ends + 1] == _OPEN).all()):
        return None
    return ends


def _is_utf8(data: bytes) -> bool:
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False  # split_lines makes such lines malformed ones
    return True


def parse_lines(
    lines: Iterable[str],
    source: str,
    catalog: Catalog,
    quarantine: str | None,
    options: dict[str, Any],
) -> ParsedPart:
    """Parse one file's JSON lines.

    Arrow's multi-threaded reader takes the whole file when it reads it exactly as json.loads
    would; a file it cannot (a malformed line, a column whose type changes) goes line by line.
    """
    kept = [s for s in map(str.strip, lines) if s]
    raw: pd.DataFrame | pa.Table | None = _read_whole(kept)
    malformed: list[str] = []
    if raw is None:
        raw, kept, malformed = _read_each(kept)
    part, reason = validate(raw, catalog)
    if malformed:
        unread = ParseStats(lines=len(malformed), bad={"malformed_json": len(malformed)})
        part = part._replace(stats=part.stats + unread)
    if quarantine and (malformed or (reason != "").any()):
        rejected = [("malformed_json", line) for line in malformed]
        rejected += [(r, kept[i]) for i, r in enumerate(reason) if r]
        write_rejected(quarantine, source, rejected, options)
    return part


def parse_object_lines(
    data: bytes,
    lines: int,
    source: str,
    catalog: Catalog,
    quarantine: str | None,
    options: dict[str, Any],
) -> ParsedPart:
    """parse_lines(split_lines(data)) for ``data`` of ``lines`` lines that object_line_ends
    accepts, handed to Arrow as they are: no Python string is made of a line unless a
    quarantine file is written or Arrow cannot read them exactly."""
    table = _read_arrow(data, lines)
    if table is None:
        return parse_lines(split_lines(data), source, catalog, quarantine, options)
    part, reason = validate(table, catalog)
    if quarantine and (reason != "").any():
        text = split_lines(data)
        rejected = [(r, text[i]) for i, r in enumerate(reason) if r]
        write_rejected(quarantine, source, rejected, options)
    return part


def _read_whole(lines: list[str]) -> pa.Table | None:
    """The columns validate() reads, one row per line, parsed by Arrow; None when Arrow could
    disagree with json.loads (then the caller parses line by line)."""
    # One object per line: Arrow would read `{..} {..}` as two rows and an object spread
    # over lines as one; json.loads rejects both.
    if not lines:
        return None
    try:
        data = "\n".join(lines).encode()
    except UnicodeEncodeError:  # lone surrogates: json.loads may accept them, Arrow not
        return None
    if object_line_ends(data) is None:
        return None
    return _read_arrow(data, len(lines))


def _read_arrow(data: bytes, lines: int) -> pa.Table | None:
    """_read_whole of ``lines`` lines of one `{...}` each, as UTF-8 ``data``."""
    if any(_holds(data, token) for token in _ARROW_ONLY):
        return None
    table = _arrow_table(data)
    if table is None or table.num_rows != lines:
        return None
    # Only nulls (or `{}` lines, which from_records drops when no line has a key): rare, and
    # the explicit schema hides which keys the lines had, so the line path decides.
    if all(column.null_count == len(column) for column in table.columns):
        return None
    table = table.select([c for c in FIELDS if c in table.column_names])
    if not all(_exact_column(c, table[c]) for c in table.column_names):
        return None
    return table


def _holds(data: bytes, token: bytes) -> bool:
    # memchr finds one byte several times faster than a substring search, and N or I is rare.
    return token[:1] in data and token in data


def _arrow_table(data: bytes) -> pa.Table | None:
    """Text fields as strings (Arrow would infer timestamps from some); a numeric ts (epoch
    ms) needs a second read with inferred types."""
    schema = pa.schema([(name, pa.string()) for name in TEXT_FIELDS])
    for options in (pa_json.ParseOptions(explicit_schema=schema), pa_json.ParseOptions()):
        try:
            table: pa.Table = pa_json.read_json(
                pa.BufferReader(data), read_options=_ONE_THREAD, parse_options=options
            )
            return table
        except pa.ArrowInvalid:
            continue
    return None


def _exact_column(name: str, column: pa.ChunkedArray) -> bool:
    """Whether ``column``'s values are what json.loads gives: strings or nulls, or for numeric
    fields numbers within 64-bit integers (Arrow turns larger integers into floats)."""
    kind = column.type
    if pa.types.is_null(kind) or pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return True
    if name not in NUMBER_FIELDS or not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
        return False
    if pa.types.is_integer(kind) or column.null_count == len(column):
        return True
    largest = pc.max(pc.abs(column)).as_py()
    return largest is None or largest < 2.0**63


def _read_each(lines: list[str]) -> tuple[pd.DataFrame, list[str], list[str]]:
    """Parse line by line: the frame of the JSON objects, their lines, and the other lines."""
    long_ints = _LONG_INT.search("\n".join(lines)) is not None
    records: list[dict[str, Any]] = []
    kept: list[str] = []
    malformed: list[str] = []
    for line in lines:
        rec = _loads(line, long_ints)
        if isinstance(rec, dict):
            records.append(rec)
            kept.append(line)
        else:
            malformed.append(line)
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame()
    return frame, kept, malformed


def _loads(line: str, long_ints: bool) -> Any:
    """json.loads(line), None when malformed. orjson is several times faster and gives the
    same objects for what it accepts, except integers beyond 64 bits (``long_ints``: the
    file has digit runs that long, so lines with one are left to json.loads)."""
    if not (long_ints and _LONG_INT.search(line)):
        try:
            return orjson.loads(line)
        except orjson.JSONDecodeError:
            pass  # NaN, Infinity, lone surrogates: json.loads reads them
    try:
        record = json.loads(line)
    except ValueError:
        return None
    # json.loads reads a "\\ud800" escape (or a byte that was not UTF-8, see split_lines) as
    # a lone surrogate: no UTF-8 text (nor the user key hash) can hold one, so such a line is
    # malformed rather than fatal to its file.
    return None if _has_lone_surrogate(record) else record


def _has_lone_surrogate(record: Any) -> bool:
    try:
        json.dumps(record, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
