"""Deleting the tables of imported generations that can no longer be served.

A generation's table goes once a rollback to it would be refused for time: its manifest
(in the fixed table) expired or expires within ``generations.EXPIRY_MARGIN_S``, the same
rule ``rollback`` applies, so every generation rollback could still flip to keeps its
table. The served generation's table is never deleted, nor is a table whose generation has
no manifest yet unless it is older than the served generation (a run that failed or died
after its import; a newer one may be a run importing right now).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from profile_engine import generation_tables
from profile_engine.generations import EXPIRY_MARGIN_S, generation_info
from profile_engine.served import ServedTable

log = logging.getLogger(__name__)


def _time_part(generation: str) -> str:
    # Generation ids start with their UTC time (20261124T193412Z-...): sortable as text.
    return generation.split("-", 1)[0]


def sweep(client: Any, fixed_table: str, prefix: str, now: float | None = None) -> list[str]:
    """Delete the generation tables of ``prefix`` that fell out of the rollback window;
    the names deleted. Nothing when ``fixed_table`` serves no generation."""
    now = time.time() if now is None else now
    pointer = ServedTable(client, fixed_table).pointer()
    if pointer is None:
        return []
    deleted = []
    for name, generation in generation_tables.generation_tables(client, prefix):
        if generation == pointer.generation or name == pointer.table:
            continue
        info = generation_info(client, fixed_table, generation, None, False, now)
        if info.manifest is None:
            # No manifest: a failed or crashed run's, or one still importing: only the
            # former can be older than what is served (a run's id is its start time).
            stale = _time_part(generation) < _time_part(pointer.generation)
        else:
            stale = info.expires_at is not None and info.expires_at < now + EXPIRY_MARGIN_S
        if stale and generation_tables.delete(client, name):
            deleted.append(name)
    if deleted:
        log.info("deleted %d generation tables out of the rollback window: %s",
                 len(deleted), ", ".join(deleted))
    return deleted
