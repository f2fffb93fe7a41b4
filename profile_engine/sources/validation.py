"""Validate raw event rows and code the valid ones (hashed user ids, catalogue codes).

Valid events come out with explicit numeric dtypes (``codes.INTERACTION_DTYPES``): ``read_json``
would give object columns that break Arrow-based shuffles.
"""

from __future__ import annotations

from collections import Counter
from typing import TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from profile_engine.compute import codes
from profile_engine.compute.catalog import Catalog
from profile_engine.sources import timestamps
from profile_engine.sources.parsed import ParsedPart, ParseStats

# Timestamps outside this window are typos or epoch seconds passed as milliseconds.
MIN_TS_MS = 946_684_800_000  # 2000-01-01
MAX_TS_MS = 4_102_444_800_000  # 2100-01-01
# Larger quantities are corrupt values, not orders (and would overflow the int32 column).
MAX_QUANTITY = 100_000
# Missing session ids: purchases by one user within this window count as one occasion.
OCCASION_MS = 30 * 60 * 1000
# What validate() reads: as text (ids, names, ISO timestamps) and as numbers.
TEXT_FIELDS = ("ts", "user_id", "product_id", "session_id", "event_type")
NUMBER_FIELDS = ("ts", "quantity", "price")
FIELDS = tuple(dict.fromkeys(TEXT_FIELDS + NUMBER_FIELDS))

# On ASCII text Arrow's kernels agree with Python's str.strip()/lower() and re's \d: the
# vectorised paths take ASCII string columns; anything else keeps the per-value path.
_ASCII_SPACE = "".join(c for c in map(chr, range(128)) if c.isspace())

# A field validate() reads: pandas, or ASCII text kept in Arrow (see _text_field).
Column: TypeAlias = pd.Series | pa.Array
# Ids once validated: Arrow text, or an object array of str and None (the per-value path).
Text: TypeAlias = pa.Array | np.ndarray


def _parse_ts(values: Column) -> np.ndarray:
    """Epoch ms (float, NaN when unparseable) from ISO-8601 strings or epoch-ms numbers."""
    if isinstance(values, pa.Array):
        out = _parse_ts_text(values)
    elif isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(values):
        out = timestamps.datetimes_ms(pd.DatetimeIndex(pd.to_datetime(values, utc=True)))
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
            out[iso] = timestamps.iso_ms(text[iso])
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
        out[iso] = _iso_ms(text if iso.all() else text.filter(iso))
    return out


def _iso_ms(text: pa.Array) -> np.ndarray:
    """Epoch ms (float, NaN when unparseable) of ISO-8601 strings (none missing)."""
    # Arrow's parser is 8x pandas' (no Python string per value) and, where it reads every
    # value, gives pandas' figures to the bit; it refuses the forms it does not know (no
    # zone, week dates, a comma, a bad value): then pandas reads them, as it always has.
    try:
        ns = pc.cast(text, pa.timestamp("ns", tz="UTC")).cast(pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return timestamps.iso_ms(text.to_numpy(zero_copy_only=False))
    return timestamps.epoch_ms(ns.to_numpy(), "ns")


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
    """Valid events of ``raw`` as coded frames, and the reject reason of each row ("" if valid).

    Every valid event is counted by type; only the modelled types of identified users enter
    the frames. Anonymous events (a session id but no user id) are valid and counted, but
    build no profile; the other types (search, impression, ...) are counted and dropped.
    """
    n = len(raw)
    user = _text(_text_field(raw, "user_id"))
    product = _text(_text_field(raw, "product_id"))
    session = _text(_text_field(raw, "session_id"))
    etype = _event_types(_text_field(raw, "event_type")).to_numpy()
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
    anonymous = _missing(user)

    reason = np.full(n, "", dtype=object)
    # Later assignments win: the most basic problem of a line is the one reported.
    reason[bad_number.to_numpy(bool)] = "bad_number"
    reason[np.isnan(ts)] = "bad_ts"
    reason[_missing(product) & np.isin(etype, codes.PRODUCT_EVENTS)] = "missing_product_id"
    reason[np.isnan(etype)] = "unknown_event_type"
    reason[anonymous & _missing(session)] = "missing_user_id"  # neither user nor session
    ok = reason == ""

    per_type = np.bincount(etype[ok].astype(np.int8), minlength=len(codes.EVENT_NAMES))
    types = {codes.EVENT_NAMES[e]: int(c) for e, c in enumerate(per_type) if c}
    identified = ok & ~anonymous
    uid, users = _users(_rows(user, identified))
    # The rows the model learns from: modelled types of identified users, known products.
    candidate = identified & np.isin(etype, codes.MODELLED)
    pcode = _product_codes(catalog, _rows(product, candidate))
    keep = candidate.copy()
    keep[candidate] = pcode >= 0
    p = pcode[pcode >= 0]
    unit = price.to_numpy()[keep]
    unit = np.where(np.isnan(unit), catalog.price[p], unit)
    ts_kept = ts[keep].astype(np.int64)
    session_kept = _sessions(_rows(session, keep), _rows(user, keep), ts_kept)
    frame = pd.DataFrame(
        {
            "uid": uid[keep[identified]],
            "pcode": p,
            "etype": etype[keep].astype(np.int8),
            "ts": ts_kept,
            "qty": qty.fillna(1).to_numpy()[keep].astype(np.int32),
            "price": unit,
            "okey": _keys(session_kept),
            "src": np.zeros(int(keep.sum()), dtype=np.int8),
        }
    ).astype(codes.INTERACTION_DTYPES)
    ts_ok = ts[ok]
    stats = ParseStats(
        lines=n,
        valid=int(ok.sum()),
        bad=dict(Counter(reason[~ok])),
        types=types,
        anonymous=int((ok & anonymous).sum()),
        modelled=len(frame),
        unknown_products=int((pcode < 0).sum()),
        min_ts=int(ts_ok.min()) if len(ts_ok) else None,
        max_ts=int(ts_ok.max()) if len(ts_ok) else None,
    )
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
