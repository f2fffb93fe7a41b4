"""Output checks: each engine's Parquet against a sample of what the Dask job published."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engines.params import SAMPLE
from engines.published import PublishedGeneration


def dask_sample(endpoint: str, table: str, generation: str, users: list[str]) -> dict[str, Any]:
    """What the job published: overall popular list, neighbours of its top items, affinities."""
    from profile_engine.publish import dynamodb_client

    published = PublishedGeneration(dynamodb_client("us-east-1", endpoint), table, generation)
    pop = published.popular()
    assert pop is not None, "no overall popular list published"
    top = [pid for pid, _ in pop[:SAMPLE]]
    nb = {pid: (published.neighbours(pid) or [])[:10] for pid in top}
    aff = {u: published.category_affinity(u) for u in users}
    return {"popular": pop[:SAMPLE], "neighbours": nb, "affinity": aff}


def read_outputs(out: Path) -> dict[str, pd.DataFrame]:
    """An engine's three outputs (a Parquet directory or file each)."""
    def load(name: str) -> pd.DataFrame:
        path = out / name if (out / name).is_dir() else out / f"{name}.parquet"
        return pd.read_parquet(path)

    return {n: load(n) for n in ("affinity", "popular", "neighbours")}


def sample_users(outputs: dict[str, pd.DataFrame]) -> list[str]:
    """SAMPLE users spread evenly over the sorted ids."""
    users = np.sort(outputs["affinity"]["user_id"].unique())
    step = max(1, len(users) // SAMPLE)
    return [str(u) for u in users[::step][:SAMPLE]]


def compare(ref: dict[str, Any], outputs: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """Mismatches between an engine's outputs and the Dask job's published sample."""
    problems: list[str] = []
    pop = outputs["popular"]
    overall = pop[pop["cat"] == ""].sort_values("rank").head(SAMPLE)
    mine = list(zip(overall["product_id"], overall["score"], strict=True))
    if [p for p, _ in mine] != [p for p, _ in ref["popular"]]:
        problems.append("overall popular list differs")
    elif not np.allclose([s for _, s in mine], [s for _, s in ref["popular"]], atol=2e-6):
        problems.append("overall popular scores differ")
    nb = outputs["neighbours"]
    groups = {a: g for a, g in nb.groupby("a")}
    for pid, want in ref["neighbours"].items():
        g = groups.get(pid)
        got = [] if g is None else g.sort_values(["score", "b"], ascending=[False, True]).head(10)
        got_l = [] if g is None else list(zip(got["b"], got["score"], strict=True))
        if [p for p, _ in got_l] != [p for p, _ in want]:
            problems.append(f"neighbours of {pid} differ")
        elif want and not np.allclose([s for _, s in got_l], [s for _, s in want], atol=2e-6):
            problems.append(f"neighbour scores of {pid} differ")
    aff = outputs["affinity"]
    by_user = {u: g for u, g in aff[aff["user_id"].isin(list(ref["affinity"]))].groupby("user_id")}
    for u, want in ref["affinity"].items():
        if want is None:
            problems.append(f"user {u} not published by the job")
            continue
        g = by_user.get(u)
        got = {} if g is None else dict(zip(g["category"], g["share"], strict=True))
        if set(got) != set(want) or any(abs(got[c] - want[c]) > 1e-4 for c in want):
            problems.append(f"affinity of {u} differs")
    checked = f"{len(ref['popular'])} popular, {len(ref['neighbours'])} items' top-10 neighbours, "
    checked += f"{len(ref['affinity'])} users' affinities"
    return {"ok": not problems, "checked": checked, "problems": problems[:10]}
