"""Parse one JSON Lines file in one task, a bounded chunk of lines at a time."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from profile_engine.compute.catalog import Catalog
from profile_engine.sources.files import read_bytes
from profile_engine.sources.jsonlines import (
    object_line_ends,
    parse_lines,
    parse_object_lines,
    split_lines,
)
from profile_engine.sources.parsed import ParsedPart, ParseStats

# Event lines parsed per call: a parse's scratch is bounded by this, not by the file's size.
PARSE_CHUNK = 100_000


def parse_json_file(
    path: str,
    source: str,
    catalog: Catalog,
    quarantine: str | None,
    options: dict[str, Any],
    q_options: dict[str, Any],
    chunk: int,
) -> ParsedPart:
    """Read and parse one JSON Lines file in one task (no lists of lines between tasks). A
    file of one `{...}` per line (the usual) goes to the parser as bytes, without Python
    strings; any other is split into lines first."""
    data = read_bytes(path, options)
    ends = object_line_ends(data)
    if ends is None:
        lines = split_lines(data)
        return parse_in_chunks(lines, source, catalog, quarantine, q_options, chunk)
    return parse_object_lines_in_chunks(data, ends, source, catalog, quarantine, q_options, chunk)


def parse_in_chunks(
    lines: list[Any],
    source: str,
    catalog: Catalog,
    quarantine: str | None,
    options: dict[str, Any],
    chunk: int,
) -> ParsedPart:
    """``parse_lines`` of one file, ``chunk`` lines at a time: the parse's scratch
    (records, Arrow tables, validation columns) stays that of ``chunk`` lines however big a
    file is, and the coded parts it keeps are a few dozen bytes a line. Validation is per
    line, so the result equals parsing the file whole."""
    if quarantine or len(lines) <= chunk:  # a quarantine file is written per parse_lines call
        return parse_lines(lines, source, catalog, quarantine, options)
    return _joined(
        [
            parse_lines(lines[lo : lo + chunk], source, catalog, quarantine, options)
            for lo in range(0, len(lines), chunk)
        ]
    )


def parse_object_lines_in_chunks(
    data: bytes,
    ends: np.ndarray,
    source: str,
    catalog: Catalog,
    quarantine: str | None,
    options: dict[str, Any],
    chunk: int,
) -> ParsedPart:
    """parse_in_chunks(split_lines(data), ...) for ``data`` whose line ``ends``
    object_line_ends found: the same chunks of lines, cut from the bytes."""
    lines = len(ends) + 1
    if quarantine or lines <= chunk:
        return parse_object_lines(data, lines, source, catalog, quarantine, options)
    cuts = ends[chunk - 1 :: chunk].tolist()  # the newline after each chunk's last line
    starts = [0] + [cut + 1 for cut in cuts]
    stops = cuts + [len(data) - data.endswith(b"\n")]
    return _joined(
        [
            parse_object_lines(
                data[start:stop], min(chunk, lines - lo), source, catalog, quarantine, options
            )
            for lo, start, stop in zip(range(0, lines, chunk), starts, stops, strict=True)
        ]
    )


def _joined(parts: list[ParsedPart]) -> ParsedPart:
    """The parts of one file's consecutive chunks as one."""
    return ParsedPart(
        pd.concat([p.frame for p in parts], ignore_index=True),
        pd.concat([p.users for p in parts], ignore_index=True)
        .drop_duplicates("uid")
        .reset_index(drop=True),
        sum((p.stats for p in parts), ParseStats()),
    )
