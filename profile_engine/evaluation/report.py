"""The evaluation table as text (CLI), JSON (machines) and a self-contained HTML bar chart."""

from __future__ import annotations

import html
import json
from pathlib import Path

from profile_engine.evaluation.run import GROUP_METRICS, GROUPS, Result

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
    head = f"{'model':<18}" + "".join(f"{label:>9}" for _, label in COLUMNS)
    lines = [head + f"{'fit s':>8}{'rec s':>8}  tuned"]
    for name, m in result.models.items():
        cells = "".join(f"{m.get(key, float('nan')):>9.4f}" for key, _ in COLUMNS)
        served = " *" if name == result.served else ""
        lines.append(
            f"{name + served:<18}{cells}{m.get('fit_s', 0):>8.2f}{m.get('recommend_s', 0):>8.2f}"
            f"  {result.tuned.get(name, '-')}"
        )
    s = result.split
    lines.append(
        f"split: {s.get('interactions', 0):,} interactions, {s.get('train_users', 0):,} train "
        f"users, {s.get('train_items', 0):,} train items, {s.get('evaluated_users', 0):,} "
        f"evaluated users (* = served)"
    )
    if result.choice:
        c = result.choice
        lines.append(f"model choice: {c['reason']}")
        lines.append(
            f"tuning: {len(c['trials'])} trials on the validation split in {c['used_s']:.1f} s "
            f"(budget {c['budget_s']:g} s)"
        )
    if result.groups:
        lines.append(group_table(result))
    lines.append(
        f"buy again: recall@10 {result.buy_again.get('recall@10', 0.0):.4f} over "
        f"{int(result.buy_again.get('users', 0)):,} users with test re-purchases"
    )
    return "\n".join(lines)


def group_table(result: Result) -> str:
    """NDCG@10 per user group (train interactions), users per group in the header."""
    names = list(result.groups)
    groups = [g for g, _, _ in GROUPS]
    first = result.groups[names[0]] if names else {}
    head = f"{'ndcg@10 by group':<18}" + "".join(
        f"{g + ' (' + str(int(first.get(g, {}).get('users', 0))) + ')':>16}" for g in groups
    )
    rows = [head]
    for n in names:
        cells = "".join(f"{result.groups[n].get(g, {}).get('ndcg@10', 0.0):>16.4f}" for g in groups)
        rows.append(f"{n + (' *' if n == result.served else ''):<18}{cells}")
    return "\n".join(rows)


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
        "table{border-collapse:collapse;margin:.5em 0 1.2em}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right;font-size:.9em}"
        "td.l,th.l{text-align:left}tr.best td{background:#fde3d6}"
    )
    body = (
        f"<h1>{html.escape(title)}</h1><pre>{html.escape(table(result))}</pre>"
        + _choice_html(result)
        + _groups_html(result)
        + "".join(charts)
        + _trace_html(result)
    )
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body>{body}</body></html>\n"
    )


def _cell(v: object, left: bool = False) -> str:
    text = f"{v:.4f}" if isinstance(v, float) else str(v)
    return f"<td{' class=l' if left else ''}>{html.escape(text)}</td>"


def _choice_html(result: Result) -> str:
    c = result.choice
    if not c:
        return ""
    settings = ", ".join(f"{k} {v}" for k, v in sorted(c.get("settings", {}).items()))
    return (
        f"<section><h2>Model choice: {html.escape(c['served'])}</h2>"
        f"<p>{html.escape(c['reason'])}</p>"
        + (f"<p>Settings: {html.escape(settings)}</p>" if settings else "")
        + "</section>"
    )


def _groups_html(result: Result) -> str:
    """Each model's figures per user group (train interactions), served model marked."""
    if not result.groups:
        return ""
    head = "<tr><th class=l>model</th>" + "".join(
        f"<th>{html.escape(g)}: {html.escape(m)}</th>" for g, _, _ in GROUPS for m in GROUP_METRICS
    ) + "</tr>"
    users = "<tr><td class=l>users</td>" + "".join(
        _cell(int(next(iter(result.groups.values()), {}).get(g, {}).get("users", 0)))
        for g, _, _ in GROUPS for _ in GROUP_METRICS
    ) + "</tr>"
    rows = "".join(
        f"<tr{' class=best' if n == result.served else ''}>{_cell(n, left=True)}"
        + "".join(
            _cell(float(gs.get(g, {}).get(m, 0.0))) for g, _, _ in GROUPS for m in GROUP_METRICS
        )
        + "</tr>"
        for n, gs in result.groups.items()
    )
    return (
        "<section><h2>By user group (interactions in train)</h2>"
        f"<table>{head}{users}{rows}</table></section>"
    )


def _trace_html(result: Result) -> str:
    """Every tuning trial in the order it ran, the best ranker and baseline marked."""
    trials = result.choice.get("trials", []) if result.choice else []
    if not trials:
        return ""
    best = max(range(len(trials)), key=lambda i: trials[i]["validation_ndcg_at_10"])
    rows = "".join(
        f"<tr{' class=best' if i == best else ''}>{_cell(i + 1)}{_cell(t['name'], left=True)}"
        f"{_cell(float(t['validation_ndcg_at_10']))}{_cell(float(t['seconds']))}"
        f"{_cell(', '.join(f'{k} {v}' for k, v in sorted(t['settings'].items())), left=True)}"
        "</tr>"
        for i, t in enumerate(trials)
    )
    return (
        "<section><h2>Tuning trace (validation split, the users that choose settings)</h2>"
        "<table><tr><th>#</th><th class=l>candidate</th><th>NDCG@10</th><th>seconds</th>"
        f"<th class=l>settings</th></tr>{rows}</table></section>"
    )
