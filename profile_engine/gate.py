"""The quality gate: a new generation is published only if its NDCG@10 holds up.

The job evaluates its own ranker on a time split of its own input (EVALUATION.md protocol,
engine only) and compares NDCG@10 with the figure the served generation recorded in its
manifest. A relative drop beyond the tolerance stops the run before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from profile_engine.served import ServedTable

METRIC = "ndcg@10"


@dataclass(frozen=True)
class Verdict:
    publish: bool
    reason: str


def live_metrics(dynamodb: Any, table: str) -> tuple[str | None, dict[str, float]]:
    """The served generation and the metrics its manifest recorded ({} when none)."""
    served = ServedTable(dynamodb, table)
    try:
        pointer = served.pointer()
    except dynamodb.exceptions.ResourceNotFoundException:
        return None, {}
    if pointer is None:
        return None, {}
    manifest = served.manifest(pointer.generation)
    return pointer.generation, (manifest.metrics if manifest else {})


def judge(
    new: dict[str, float], live: dict[str, float], tolerance: float, force: bool = False
) -> Verdict:
    """Publish unless NDCG@10 fell more than ``tolerance`` (relative) below the live one."""
    if METRIC not in new:
        return Verdict(True, "no evaluated users in the input: the gate cannot judge")
    if METRIC not in live:
        return Verdict(True, f"{METRIC} {new[METRIC]:.4f}; the served generation has no figure")
    floor = live[METRIC] * (1.0 - tolerance)
    text = (
        f"{METRIC} {new[METRIC]:.4f} vs served {live[METRIC]:.4f} "
        f"(floor {floor:.4f} at tolerance {tolerance:.0%})"
    )
    if new[METRIC] >= floor:
        return Verdict(True, text)
    if force:
        return Verdict(True, text + ": below the floor, published because of --force")
    return Verdict(False, text + ": below the floor, not published (--force overrides)")
