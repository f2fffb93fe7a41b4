"""Parse one Parquet event file in one task."""

from __future__ import annotations

from typing import Any

import pandas as pd

from profile_engine.compute.catalog import Catalog
from profile_engine.sources.parsed import ParsedPart
from profile_engine.sources.quarantine import write_rejected
from profile_engine.sources.validation import validate


def parse_parquet(
    path: str, source: str, catalog: Catalog, quarantine: str | None, options: dict[str, Any]
) -> ParsedPart:
    """Valid events of the file at ``path``; rejected rows go to ``quarantine`` as JSON lines."""
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
        write_rejected(quarantine, source, rows, options)
    return part
