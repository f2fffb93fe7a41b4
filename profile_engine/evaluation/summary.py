"""Several datasets' evaluations side by side: what each shop would be served against its
best baseline on test (text and HTML), from the JSON files ``evaluate --json`` writes."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

# The models the job can serve instead of the ranker, and the literature's baselines.
BASELINES = ("most_popular", "category_popular", "item_neighbours", "item_cosine", "ease")
COLUMNS = ("dataset", "served", "served NDCG@10", "best baseline", "its NDCG@10", "ratio",
           "engine (tuned)", "engine (defaults)", "Cov@10 served", "evaluated users")


def rows(paths: list[str]) -> list[tuple[Any, ...]]:
    out = []
    for path in paths:
        doc = json.loads(Path(path).read_text())
        models: dict[str, dict[str, float]] = doc["models"]
        served = doc["served"]
        ndcg = {n: m.get("ndcg@10", 0.0) for n, m in models.items()}
        base = max((n for n in BASELINES if n in ndcg), key=ndcg.__getitem__, default=None)
        theirs = ndcg.get(base, 0.0) if base else 0.0
        ours = ndcg.get(served, 0.0)
        out.append((
            Path(path).stem, served, ours, base or "-", theirs,
            ours / theirs if theirs else float("nan"),
            ndcg.get("engine", 0.0), ndcg.get("engine_defaults", 0.0),
            models.get(served, {}).get("coverage@10", 0.0),
            doc["split"].get("evaluated_users", 0),
        ))
    return out


def _text(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def table(paths: list[str]) -> str:
    body = [[_text(v) for v in r] for r in rows(paths)]
    widths = [max(len(c), *(len(r[i]) for r in body)) for i, c in enumerate(COLUMNS)]
    line = ["  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True))]
    line += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in body]
    return "\n".join(line)


def write_html(paths: list[str], out: str) -> None:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    body = "".join(
        "<tr>" + "".join(
            f"<td><a href='{html.escape(r[0])}.html'>{html.escape(r[0])}</a></td>" if i == 0
            else f"<td>{html.escape(_text(v))}</td>"
            for i, v in enumerate(r)
        ) + "</tr>"
        for r in rows(paths)
    )
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>Quality per dataset</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 8px}</style></head><body>"
        "<h1>Quality per dataset (test split)</h1><p>Each dataset's page has the tuning trace "
        f"and the figures per user group.</p><table><tr>{head}</tr>{body}</table></body></html>\n"
    )
