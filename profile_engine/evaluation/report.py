"""The evaluation table as text (CLI), JSON (machines) and a self-contained HTML bar chart."""

from __future__ import annotations

import html
import json
from pathlib import Path

from profile_engine.evaluation.run import Result

COLUMNS = (
    ("precision@10", "P@10"),
    ("recall@10", "R@10"),
    ("recall@20", "R@20"),
    ("ndcg@10", "NDCG@10"),
    ("ndcg@20", "NDCG@20"),
    ("hr@10", "HR@10"),
    ("coverage@10", "Cov@10"),
)


def table(result: Result) -> str:
    head = f"{'model':<14}" + "".join(f"{label:>9}" for _, label in COLUMNS)
    lines = [head + f"{'fit s':>8}{'rec s':>8}  tuned"]
    for name, m in result.models.items():
        cells = "".join(f"{m.get(key, float('nan')):>9.4f}" for key, _ in COLUMNS)
        served = " *" if name == result.served else ""
        lines.append(
            f"{name + served:<14}{cells}{m.get('fit_s', 0):>8.2f}{m.get('recommend_s', 0):>8.2f}"
            f"  {result.tuned.get(name, '-')}"
        )
    s = result.split
    lines.append(
        f"split: {s.get('interactions', 0):,} interactions, {s.get('train_users', 0):,} train "
        f"users, {s.get('train_items', 0):,} train items, {s.get('evaluated_users', 0):,} "
        f"evaluated users (* = served)"
    )
    if "note" in result.tuned:
        lines.append(f"note: {result.tuned['note']}")
    lines.append(
        f"buy again: recall@10 {result.buy_again.get('recall@10', 0.0):.4f} over "
        f"{int(result.buy_again.get('users', 0)):,} users with test re-purchases"
    )
    return "\n".join(lines)


def write_json(result: Result, path: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(result.as_json(), indent=2, sort_keys=True) + "\n")


def write_html(result: Result, path: str, title: str = "Recommendation quality") -> None:
    """One horizontal bar chart per metric, inline CSS, no scripts or external files."""
    charts = []
    for key, label in COLUMNS:
        values = {n: m.get(key, 0.0) for n, m in result.models.items()}
        top = max(values.values(), default=0.0) or 1.0
        bars = "".join(
            f'<div class="row"><span class="name">{html.escape(n)}</span>'
            f'<span class="bar{" served" if n == result.served else ""}" '
            f'style="width:{300 * v / top:.0f}px"></span><span>{v:.4f}</span></div>'
            for n, v in values.items()
        )
        charts.append(f"<section><h2>{label}</h2>{bars}</section>")
    style = (
        "body{font-family:sans-serif;margin:2em}section{margin-bottom:1.2em}"
        ".row{display:flex;align-items:center;gap:.5em;margin:2px 0}"
        ".name{width:9em}.bar{display:inline-block;height:14px;background:#8aa}"
        ".served{background:#d62}h2{font-size:1em;margin:.2em 0}"
    )
    body = (
        f"<h1>{html.escape(title)}</h1><pre>{html.escape(table(result))}</pre>" + "".join(charts)
    )
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body>{body}</body></html>\n"
    )
