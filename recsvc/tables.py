"""Plain-text tables for the command line."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from recsvc.api.v1.recommender_pb2 import ServedModel

__all__ = ["served_model", "table"]


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned columns separated by two spaces, with a header rule."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def served_model(m: ServedModel) -> str:
    """An InfoResponse's ``ServedModel``: what is served and why, its settings, the best
    candidates the job tried."""
    lines = [f"served model: {m.served}", f"  {m.reason}"]
    settings = sorted(m.settings.items())
    if settings:
        lines.append("  settings: " + ", ".join(f"{k}={v}" for k, v in settings))
    candidates = list(m.candidates)[:10]
    if candidates:
        rows = [(c.name, f"{c.validation_ndcg_at_10:.4f}", c.settings) for c in candidates]
        lines.append(table(("candidate", "val ndcg@10", "settings"), rows))
    return "\n".join(lines)
