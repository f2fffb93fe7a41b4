"""Read clickstream logs (JSON Lines, plain or gzip, or Parquet; local or S3) into coded frames.

Every line is validated; bad ones (malformed JSON, missing user or product, unparseable
timestamp, unknown event type, non-numeric quantity/price) are counted per reason, optionally
written to a quarantine prefix, and skipped: they never stop the run. Valid events come out
with explicit numeric dtypes (``codes.INTERACTION_DTYPES``): ``read_json`` would give object
columns that break Arrow-based shuffles.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple, TypeAlias

import dask.dataframe as dd
import fsspec
import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json
from dask.base import compute, persist
from dask.delayed import delayed

from profile_engine.compute import codes
from profile_engine.compute.catalog import Catalog

JSON_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".ndjson", ".ndjson.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
# Timestamps outside this window are typos or epoch seconds passed as milliseconds.
MIN_TS_MS = 946_684_800_000  # 2000-01-01
MAX_TS_MS = 4_102_444_800_000  # 2100-01-01
# Larger quantities are corrupt values, not orders (and would overflow the int32 column).
MAX_QUANTITY = 100_000
# Missing session ids: purchases by one user within this window count as one occasion.
OCCASION_MS = 30 * 60 * 1000
REASONS = (
    "malformed_json",
    "missing_user_id",
    "unknown_event_type",
    "missing_product_id",
    "bad_ts",
    "bad_number",
)

_DT = re.compile(r"(?:^|/)dt=(\d{4}-\d{2}-\d{2})(?:/|$)")
# On ASCII text Arrow's kernels agree with Python's str.strip()/lower() and re's \d: the
# vectorised paths take ASCII string columns; anything else keeps the per-value path.
_ASCII_SPACE = "".join(c for c in map(chr, range(128)) if c.isspace())
_TEXT_FIELDS = ("ts", "user_id", "product_id", "session_id", "event_type")
_NUMBER_FIELDS = ("ts", "quantity", "price")
_FIELDS = tuple(dict.fromkeys(_TEXT_FIELDS + _NUMBER_FIELDS))  # what validate() reads
# Tokens Arrow's JSON parser accepts but json.loads rejects (Inf, -NaN): such files go the
# line path, where json.loads decides.
_ARROW_ONLY = (b"NaN", b"Inf")
# Integers beyond 64 bits: orjson and Arrow read them as floats, json.loads as ints.
_LONG_INT = re.compile(r"\d{19}")
_NEWLINE, _OPEN, _CLOSE = b"\n"[0], b"{"[0], b"}"[0]

# A field validate() reads: pandas, or ASCII text kept in Arrow (see _text_field).
Column: TypeAlias = pd.Series | pa.Array
# Ids once validated: Arrow text, or an object array of str and None (the per-value path).
Text: TypeAlias = pa.Array | np.ndarray


@dataclass(frozen=True)
class EventFile:
    path: str  # full URL or local path
    relative: str  # below the root, for reports and quarantine names
    fmt: str  # "json" or "parquet"
    day: date | None  # from the Hive partition dt=YYYY-MM-DD, when there is one


class ParsedPart(NamedTuple):
    frame: pd.DataFrame  # codes.INTERACTION_DTYPES
    users: pd.DataFrame  # codes.USER_DTYPES, one row per user of the part
    stats: dict[str, Any]


@dataclass
class EventsRead:
    frame: dd.DataFrame
    users: dd.DataFrame
    files: int = 0
    lines: int = 0
    valid: int = 0
    bad: dict[str, int] = field(default_factory=dict)
    types: dict[str, int] = field(default_factory=dict)
    unknown_products: int = 0
    min_ts: int | None = None
    max_ts: int | None = None


def storage_options(url: str, s3_endpoint_url: str | None) -> dict[str, Any]:
    """fsspec options for ``url``: the S3 endpoint (moto locally), nothing for local paths."""
    if url.startswith(("s3://", "s3a://")) and s3_endpoint_url:
        return {"endpoint_url": s3_endpoint_url}
    return {}


def list_files(root: str, options: dict[str, Any], until: date | None = None) -> list[EventFile]:
    """Event files under ``root`` in path order; partitions dated after ``until`` are skipped
    (a dt= partition holds the events of that UTC day, so it cannot matter for an earlier as-of)."""
    fs, path = fsspec.core.url_to_fs(root, **options)
    if not fs.exists(path):
        raise FileNotFoundError(f"event root {root} does not exist")
    found = [path] if fs.isfile(path) else sorted(fs.find(path))
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    files = []
    for p in found:
        name = p.lower()
        fmt = (
            "json"
            if name.endswith(JSON_SUFFIXES)
            else "parquet"
            if name.endswith(PARQUET_SUFFIXES)
            else None
        )
        if fmt is None:
            continue
        rel = p[len(path) :].lstrip("/") or p.rsplit("/", 1)[-1]
        match = _DT.search(rel)
        day = date.fromisoformat(match.group(1)) if match else None
        if until is not None and day is not None and day > until:
            continue
        full = p if protocol in ("file", "local") else f"{protocol}://{p}"
        files.append(EventFile(full, rel, fmt, day))
    return files


def _parse_ts(values: Column) -> np.ndarray:
    """Epoch ms (float, NaN when unparseable) from ISO-8601 strings or epoch-ms numbers."""
    if isinstance(values, pa.Array):
        out = _parse_ts_text(values)
    elif isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(values):
        ts = pd.to_datetime(values, utc=True)
        out = ((ts - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(milliseconds=1)).to_numpy(
            dtype=float, copy=True
        )
    elif pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        out = values.to_numpy(dtype=float, copy=True)
    elif (text := _ascii_text(values)) is not None:
        out = _parse_ts_text(text)
    else:
        obj = values.astype(object)
        numeric = obj.map(
            lambda v: isinstance(v, int | float) and not isinstance(v, bool)
        ).to_numpy(bool)
        text = obj.map(lambda v: v if isinstance(v, str) else None)
        digits = text.str.fullmatch(r"\d{10,16}").fillna(False).to_numpy(bool)
        out = np.full(len(obj), np.nan)
        out[numeric] = obj[numeric].to_numpy(dtype=float)
        out[digits] = text[digits].astype(float).to_numpy()
        iso = ~numeric & ~digits & text.notna().to_numpy(bool)
        if iso.any():
            ts = pd.to_datetime(text[iso], utc=True, errors="coerce", format="ISO8601")
            out[iso] = ((ts - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(milliseconds=1)).to_numpy(
                dtype=float
            )
    out[(out < MIN_TS_MS) | (out >= MAX_TS_MS)] = np.nan
    ms: np.ndarray = out
    return ms


def _ascii_text(values: Column) -> pa.Array | None:
    """``values`` as an Arrow string array when it is a string column of ASCII text (or all
    missing), the domain where the vectorised paths give what the per-value ones give. An
    Arrow column is such text already (see _text_field)."""
    if isinstance(values, pa.Array):
        return values
    if not isinstance(values.dtype, pd.StringDtype):
        return None
    return _if_ascii(pa.array(values, type=pa.large_string(), from_pandas=True))


def _if_ascii(text: pa.Array) -> pa.Array | None:
    return None if pc.all(pc.string_is_ascii(text)).as_py() is False else text


def _parse_ts_text(text: pa.Array) -> np.ndarray:
    """_parse_ts of a string column: 10-16 digits are epoch ms, anything else ISO-8601."""
    # ASCII text (of one byte a character): all decimal is all 0-9, cheaper than a regex.
    size = pc.binary_length(text)
    in_range = pc.and_(pc.greater_equal(size, 10), pc.less_equal(size, 16))
    digits = pc.fill_null(pc.and_(pc.ascii_is_decimal(text), in_range), False)
    digits = digits.to_numpy(zero_copy_only=False)
    out = np.full(len(text), np.nan)
    out[digits] = np.asarray(text.filter(digits).to_pylist(), dtype=float)
    iso = ~digits & pc.is_valid(text).to_numpy(zero_copy_only=False)
    if iso.any():
        strings = (text if iso.all() else text.filter(iso)).to_numpy(zero_copy_only=False)
        ts = pd.to_datetime(strings, utc=True, errors="coerce", format="ISO8601")
        out[iso] = ((ts - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(milliseconds=1)).to_numpy(
            dtype=float
        )
    return out


def _text(values: Column) -> Text:
    """Ids as strings (numbers allowed), None when missing or blank."""
    text = _ascii_text(values)
    if text is not None:
        trimmed = pc.utf8_trim(text, _ASCII_SPACE)
        kept: pa.Array = pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, trimmed.type), trimmed)
        return kept
    assert isinstance(values, pd.Series)  # (_ascii_text takes every Arrow column)
    s = values.astype(object).map(lambda v: None if v is None or v != v else str(v).strip())
    return s.where(s != "", None).to_numpy(dtype=object)


def _missing(text: Text) -> np.ndarray:
    missing: np.ndarray = (
        text.is_null().to_numpy(zero_copy_only=False)
        if isinstance(text, pa.Array)
        else pd.isna(text)
    )
    return missing


def _rows(text: Text, mask: np.ndarray) -> Text:
    return text.filter(mask) if isinstance(text, pa.Array) else text[mask]


def _strings(text: Text) -> pd.Series:
    """``text`` as a pandas Series (Arrow text stays in Arrow)."""
    if isinstance(text, pa.Array):
        series: pd.Series = text.to_pandas()
        return series
    return pd.Series(text, dtype=object)


def _keys(ids: Text) -> np.ndarray:
    """codes.user_keys of each id (none missing)."""
    return _keyed(ids)[0]


def _users(ids: Text) -> tuple[np.ndarray, pd.DataFrame]:
    """The key of each valid row's user id, and the users frame (one row per key, in order of
    first appearance)."""
    keys, distinct, distinct_keys = _keyed(ids)
    users = pd.DataFrame({"uid": distinct_keys, "user_id": _strings(distinct)})
    return keys, users.drop_duplicates("uid").astype(codes.USER_DTYPES)


def _keyed(ids: Text) -> tuple[np.ndarray, Text, np.ndarray]:
    """codes.user_keys of each id (none missing), and of some ids including each distinct one
    (in order of first appearance): Arrow ids are hashed once per distinct id."""
    if not isinstance(ids, pa.Array):
        keys = codes.user_keys(pd.Series(ids))
        return keys, ids, keys
    encoded = pc.dictionary_encode(ids)
    distinct = codes.user_keys(pd.Series(encoded.dictionary.to_numpy(zero_copy_only=False)))
    return distinct[encoded.indices.to_numpy()], encoded.dictionary, distinct


def _product_codes(catalog: Catalog, products: Text) -> np.ndarray:
    """catalog.codes of the products ("" where missing). Arrow text is looked up in Arrow when
    the catalogue's ids are unique Arrow strings (else catalog.codes, which may raise)."""
    ids = catalog.ids.array
    if (
        not isinstance(products, pa.Array)
        or not isinstance(ids, pd.arrays.ArrowStringArray)
        or not catalog.ids.is_unique
    ):
        return catalog.codes(_strings(products).fillna(""))
    found = pc.index_in(pc.fill_null(products, ""), value_set=pa.array(ids, pa.large_string()))
    position: np.ndarray = pc.fill_null(found, -1).to_numpy(zero_copy_only=False)
    return position.astype(np.int32)


def _sessions(session: Text, users: Text, ts: np.ndarray) -> Text:
    """Session ids, a missing one replaced by the user's purchase occasion (user@half hour)."""
    missing = _missing(session)
    if not missing.any():
        return session
    who = _rows(users, missing)
    who = who.to_pylist() if isinstance(who, pa.Array) else who
    filled = [f"{u}@{t // OCCASION_MS}" for u, t in zip(who, ts[missing], strict=True)]
    if isinstance(session, pa.Array):
        replaced: pa.Array = pc.replace_with_mask(
            session, pa.array(missing), pa.array(filled, session.type)
        )
        return replaced
    session = np.array(session, dtype=object)
    session[missing] = filled
    return session


def _event_types(values: Column) -> pd.Series:
    """Event type codes (float, NaN when unknown); case and surrounding blanks are ignored."""
    text = _ascii_text(values)
    if text is None:
        assert isinstance(values, pd.Series)  # (_ascii_text takes every Arrow column)
        return (
            values.astype(object)
            .map(lambda v: codes.EVENT_TYPES.get(v.strip().lower()) if isinstance(v, str) else None)
            .astype("float64")
        )
    names = pc.ascii_lower(pc.utf8_trim(text, _ASCII_SPACE))
    found = pc.index_in(names, value_set=pa.array(list(codes.EVENT_TYPES), pa.large_string()))
    code = np.array(list(codes.EVENT_TYPES.values()), dtype="float64")
    position = pc.fill_null(found, -1).to_numpy(zero_copy_only=False)
    return pd.Series(np.where(position >= 0, code[position], np.nan))


def validate(raw: pd.DataFrame | pa.Table, catalog: Catalog) -> tuple[ParsedPart, np.ndarray]:
    """Valid events of ``raw`` as coded frames, and the reject reason of each row ("" if valid)."""
    n = len(raw)
    user = _text(_text_field(raw, "user_id"))
    product = _text(_text_field(raw, "product_id"))
    etype = _event_types(_text_field(raw, "event_type"))
    ts = _parse_ts(_text_field(raw, "ts"))
    qty_raw, price_raw = _field(raw, "quantity"), _field(raw, "price")
    qty = pd.to_numeric(qty_raw, errors="coerce")
    price = pd.to_numeric(price_raw, errors="coerce")
    bad_number = (
        (qty_raw.notna() & qty.isna())
        | (price_raw.notna() & price.isna())
        | (qty < 0)
        | (qty > MAX_QUANTITY)
        | (price < 0)
    )

    reason = np.full(n, "", dtype=object)
    # Later assignments win: the most basic problem of a line is the one reported.
    reason[bad_number.to_numpy(bool)] = "bad_number"
    reason[np.isnan(ts)] = "bad_ts"
    reason[_missing(product) & (etype != codes.SEARCH).to_numpy(bool)] = "missing_product_id"
    reason[etype.isna().to_numpy(bool)] = "unknown_event_type"
    reason[_missing(user)] = "missing_user_id"
    ok = reason == ""

    etype_ok = etype[ok].astype("int8").to_numpy()
    per_type = np.bincount(etype_ok, minlength=len(codes.EVENT_NAMES))
    types = {codes.EVENT_NAMES[e]: int(c) for e, c in enumerate(per_type) if c}
    pcode = _product_codes(catalog, _rows(product, ok))
    known = (pcode >= 0) | (etype_ok == codes.SEARCH)
    keep = known & (etype_ok != codes.SEARCH)
    users_ok = _rows(user, ok)
    ts_ok = ts[ok].astype(np.int64)
    session = _sessions(_rows(_text(_text_field(raw, "session_id")), ok), users_ok, ts_ok)
    uid, users = _users(users_ok)
    p = pcode[keep]
    unit = price[ok].to_numpy()[keep]
    unit = np.where(np.isnan(unit) & (p >= 0), catalog.price[np.maximum(p, 0)], unit)
    frame = pd.DataFrame(
        {
            "uid": uid[keep],
            "pcode": p,
            "etype": etype_ok[keep],
            "ts": ts_ok[keep],
            "qty": qty[ok].fillna(1).to_numpy()[keep].astype(np.int32),
            "price": unit,
            "okey": _keys(_rows(session, keep)),
            "src": np.zeros(int(keep.sum()), dtype=np.int8),
        }
    ).astype(codes.INTERACTION_DTYPES)
    stats = {
        "lines": n,
        "valid": int(ok.sum()),
        "bad": dict(Counter(reason[~ok])),
        "types": dict(types),
        "unknown_products": int((~known).sum()),
        "min_ts": int(ts_ok.min()) if len(ts_ok) else None,
        "max_ts": int(ts_ok.max()) if len(ts_ok) else None,
    }
    return ParsedPart(frame, users.reset_index(drop=True), stats), reason


def _text_field(raw: pd.DataFrame | pa.Table, name: str) -> Column:
    """_field, but a column of ASCII strings in an Arrow table stays in Arrow."""
    if isinstance(raw, pa.Table) and name in raw.column_names:
        column = raw[name]
        if pa.types.is_string(column.type):
            text = _if_ascii(column.cast(pa.large_string()).combine_chunks())
            if text is not None:
                return text
    return _field(raw, name)


def _field(raw: pd.DataFrame | pa.Table, name: str) -> pd.Series:
    """Field ``name`` of every row, None where absent; of a table, what to_pandas() gives."""
    names = raw.column_names if isinstance(raw, pa.Table) else raw.columns
    if name not in names:
        return pd.Series([None] * len(raw), dtype=object)
    column: pd.Series = raw[name].to_pandas() if isinstance(raw, pa.Table) else raw[name]
    return column.reset_index(drop=True)


def read_bytes(path: str, options: dict[str, Any]) -> bytes:
    """The content of one file, gunzipped when its suffix says so."""
    with fsspec.open(path, "rb", compression="infer", **options) as f:
        data: bytes = f.read()
    return data


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
    part.stats["lines"] += len(malformed)
    if malformed:
        part.stats["bad"]["malformed_json"] = len(malformed)
    if quarantine and (malformed or (reason != "").any()):
        rejected = [("malformed_json", line) for line in malformed]
        rejected += [(r, kept[i]) for i, r in enumerate(reason) if r]
        _quarantine(quarantine, source, rejected, options)
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
        _quarantine(quarantine, source, [(r, text[i]) for i, r in enumerate(reason) if r], options)
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
    table = table.select([c for c in _FIELDS if c in table.column_names])
    if not all(_exact_column(c, table[c]) for c in table.column_names):
        return None
    return table


def _holds(data: bytes, token: bytes) -> bool:
    # memchr finds one byte several times faster than a substring search, and N or I is rare.
    return token[:1] in data and token in data


def _arrow_table(data: bytes) -> pa.Table | None:
    """Text fields as strings (Arrow would infer timestamps from some); a numeric ts (epoch
    ms) needs a second read with inferred types."""
    schema = pa.schema([(name, pa.string()) for name in _TEXT_FIELDS])
    for options in (pa_json.ParseOptions(explicit_schema=schema), pa_json.ParseOptions()):
        try:
            table: pa.Table = pa_json.read_json(pa.BufferReader(data), parse_options=options)
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
    if name not in _NUMBER_FIELDS or not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
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


def parse_parquet(
    path: str, source: str, catalog: Catalog, quarantine: str | None, options: dict[str, Any]
) -> ParsedPart:
    raw = pd.read_parquet(path, storage_options=options or None)
    part, reason = validate(raw, catalog)
    if quarantine and (reason != "").any():
        bad = raw.reset_index(drop=True)[reason != ""]
        rows = [
            (r, line)
            for r, line in zip(
                reason[reason != ""],
                bad.to_json(orient="records", lines=True, date_format="iso").splitlines(),
                strict=True,
            )
        ]
        _quarantine(quarantine, source, rows, options)
    return part


def _quarantine(
    root: str, source: str, rows: list[tuple[str, str]], options: dict[str, Any]
) -> None:
    """Rejected lines of one input file, with their reason, as JSON Lines under ``root``."""
    name = re.sub(r"\.(jsonl|json|ndjson|parquet|pq)(\.gz)?$", "", source) + ".rejected.jsonl"
    fs, path = fsspec.core.url_to_fs(f"{root.rstrip('/')}/{name}", **options)
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    with fs.open(path, "w") as f:
        for reason, line in rows:
            f.write(json.dumps({"reason": reason, "source": source, "line": line}) + "\n")


def read_events(
    root: str,
    catalog: Catalog | Any,
    *,
    s3_endpoint_url: str | None = None,
    quarantine: str | None = None,
    until: date | None = None,
) -> EventsRead:
    """Parse every event file (one task each), keep the parsed parts in cluster memory and
    return them as two dask frames plus the summed line counts. ``catalog`` may be a
    scattered future of the Catalog."""
    options = storage_options(root, s3_endpoint_url)
    q_options = storage_options(quarantine or "", s3_endpoint_url)
    files = list_files(root, options, until)
    tasks = []
    json_files = [f for f in files if f.fmt == "json"]
    if json_files:
        from profile_engine.partitions import PARSE_CHUNK, parse_json_file  # (import cycle)

        # One task per file: gzip cannot be split, and writers already cut parts.
        for f in json_files:
            tasks.append(
                delayed(parse_json_file, pure=True, nout=3)(
                    f.path, f.relative, catalog, quarantine, options, q_options, PARSE_CHUNK
                )
            )
    for f in files:
        if f.fmt == "parquet":
            tasks.append(
                delayed(parse_parquet, pure=True, nout=3)(
                    f.path, f.relative, catalog, quarantine, options
                )
            )
    if not tasks:
        empty = dd.from_pandas(codes.empty_frame(codes.INTERACTION_DTYPES), npartitions=1)
        users = dd.from_pandas(codes.empty_frame(codes.USER_DTYPES), npartitions=1)
        return EventsRead(empty, users)
    # Parse once: both frames and the counts come from the same persisted parts.
    tasks = list(persist(*tasks))
    all_stats = compute(*[t[2] for t in tasks])
    out = EventsRead(
        frame=dd.from_delayed(
            [t[0] for t in tasks],
            meta=codes.empty_frame(codes.INTERACTION_DTYPES),
            verify_meta=False,
        ),
        users=dd.from_delayed(
            [t[1] for t in tasks], meta=codes.empty_frame(codes.USER_DTYPES), verify_meta=False
        ),
        files=len(files),
    )
    bad: Counter[str] = Counter()
    types: Counter[str] = Counter()
    for s in all_stats:
        out.lines += s["lines"]
        out.valid += s["valid"]
        out.unknown_products += s["unknown_products"]
        bad.update(s["bad"])
        types.update(s["types"])
        if s["min_ts"] is not None:
            out.min_ts = s["min_ts"] if out.min_ts is None else min(out.min_ts, s["min_ts"])
            out.max_ts = s["max_ts"] if out.max_ts is None else max(out.max_ts, s["max_ts"])
    out.bad = {r: bad[r] for r in REASONS if bad[r]}
    out.types = dict(sorted(types.items()))
    return out
