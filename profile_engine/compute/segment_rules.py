"""Marketing segments from declarative rules: load and check a TOML file, evaluate per partition.

The file is checked completely before the job does any work; a mistake names the segment,
the rule and the field. Evaluation is vectorised over one partition of user summaries.
"""

from __future__ import annotations

import math
import operator
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from profile_engine.compute import codes
from profile_engine.errors import SegmentFileError

NUMERIC = {
    "recency_days",
    "frequency",
    "monetary",
    "interactions",
    "r",
    "f",
    "m",
    "days_since_cart",
    "affinity",
}
FLAGS = {"opt_in", "registered", "cart_abandoned"}
TEXT = {"country", "top_category"}
NUMERIC_OPS = {">", ">=", "<", "<=", "==", "!="}
FLAG_OPS = {"==", "!="}
TEXT_OPS = {"==", "!=", "in", "not_in"}
FOR_EACH = {"category"}
SEGMENT_KEYS = {"name", "description", "rules", "for_each"}
RULE_KEYS = {"field", "op", "value"}
SEGMENT_DTYPES: dict[str, str] = {"uid": "int64", "segment": "str"}
# Segment names become DynamoDB keys and export paths: keep them printable and short.
MAX_NAME = 100


@dataclass(frozen=True)
class Rule:
    field: str
    op: str
    value: Any


@dataclass(frozen=True)
class SegmentSpec:
    name: str
    description: str
    rules: tuple[Rule, ...]
    for_each: str = ""

    def names(self, categories: Sequence[str]) -> list[tuple[str, int]]:
        """(segment name, category index or -1) for every segment this spec makes."""
        if self.for_each == "category":
            return [(self.name.replace("{category}", c), i) for i, c in enumerate(categories)]
        return [(self.name, -1)]


def default_path() -> Path:
    return Path(str(resources.files("profile_engine") / "segments.toml"))


def load(path: str | Path | None = None) -> tuple[SegmentSpec, ...]:
    """Read and check a segment file (the built-in one when ``path`` is None)."""
    source = Path(path) if path else default_path()
    try:
        document = tomllib.loads(source.read_text())
    except OSError as exc:
        raise SegmentFileError(f"{source}: cannot read: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SegmentFileError(f"{source}: not valid TOML: {exc}") from exc
    return parse(document, str(source))


def parse(document: dict[str, Any], source: str = "segments") -> tuple[SegmentSpec, ...]:
    segments = document.get("segment")
    if not isinstance(segments, list) or not segments:
        raise SegmentFileError(f"{source}: needs at least one [[segment]] table")
    specs: list[SegmentSpec] = []
    seen: set[str] = set()
    for i, raw in enumerate(segments):
        where = f"{source}: segment #{i + 1}"
        if not isinstance(raw, dict):
            raise SegmentFileError(f"{where}: must be a table")
        name = raw.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
            raise SegmentFileError(f"{where}: name must be text of 1..{MAX_NAME} characters")
        where = f"{source}: segment {name!r}"
        unknown = set(raw) - SEGMENT_KEYS
        if unknown:
            raise SegmentFileError(f"{where}: unknown key {sorted(unknown)[0]!r}")
        if name in seen:
            raise SegmentFileError(f"{where}: defined twice")
        seen.add(name)
        for_each = raw.get("for_each", "")
        if for_each and for_each not in FOR_EACH:
            raise SegmentFileError(f"{where}: for_each must be one of {sorted(FOR_EACH)}")
        if bool(for_each) != ("{category}" in name):
            raise SegmentFileError(
                f'{where}: a name with {{category}} needs for_each = "category", and back'
            )
        rules = raw.get("rules")
        if not isinstance(rules, list) or not rules:
            raise SegmentFileError(f"{where}: rules must be a non-empty list")
        parsed = tuple(
            _rule(r, f"{where}, rule #{j + 1}", bool(for_each)) for j, r in enumerate(rules)
        )
        description = raw.get("description", name)
        if not isinstance(description, str):
            raise SegmentFileError(f"{where}: description must be text")
        specs.append(SegmentSpec(name, description, parsed, for_each))
    return tuple(specs)


def _rule(raw: Any, where: str, per_category: bool) -> Rule:
    if not isinstance(raw, dict):
        raise SegmentFileError(f"{where}: must be a table {{field, op, value}}")
    if set(raw) != RULE_KEYS:
        raise SegmentFileError(f"{where}: needs exactly the keys field, op, value")
    field, op, value = raw["field"], raw["op"], raw["value"]
    known = sorted(NUMERIC | FLAGS | TEXT)
    if field not in NUMERIC | FLAGS | TEXT:
        raise SegmentFileError(
            f"{where}: field: unknown field {field!r} (known: {', '.join(known)})"
        )
    if field == "affinity" and not per_category:
        raise SegmentFileError(f'{where}: field: affinity needs for_each = "category"')
    if field in NUMERIC:
        ops, ok = NUMERIC_OPS, isinstance(value, int | float) and not isinstance(value, bool)
        wanted = "a number"
    elif field in FLAGS:
        ops, ok, wanted = FLAG_OPS, isinstance(value, bool), "true or false"
    else:
        ops = TEXT_OPS
        if op in {"in", "not_in"}:
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
            wanted = "a list of text"
        else:
            ok, wanted = isinstance(value, str), "text"
    if op not in ops:
        raise SegmentFileError(
            f"{where}: op: {op!r} does not apply to {field} (use {', '.join(sorted(ops))})"
        )
    if not ok or (isinstance(value, float) and math.isnan(value)):
        raise SegmentFileError(f"{where}: value: {field} {op} needs {wanted}, got {value!r}")
    return Rule(field, op, tuple(value) if isinstance(value, list) else value)


def _column(summary: pd.DataFrame, field: str, as_of_ms: int) -> np.ndarray:
    cart = summary["last_cart_ts"].to_numpy()
    column: np.ndarray
    if field == "days_since_cart":
        column = np.where(cart >= 0, (as_of_ms - cart) / codes.DAY_MS, np.nan)
    elif field == "cart_abandoned":
        column = (cart >= 0) & (cart > summary["last_purchase_ts"].to_numpy())
    else:
        column = summary[field].to_numpy()
    return column


_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    "in": lambda values, v: np.isin(values, list(v)),
    "not_in": lambda values, v: ~np.isin(values, list(v)),
}


def _holds(values: np.ndarray, rule: Rule) -> np.ndarray:
    with np.errstate(invalid="ignore"):  # NaN (never bought / never carted) never matches
        result: np.ndarray = np.asarray(_COMPARE[rule.op](values, rule.value), dtype=bool)
    return result


def assign(
    summary: pd.DataFrame,
    affinity: pd.DataFrame,
    specs: Sequence[SegmentSpec],
    as_of_ms: int,
    categories: Sequence[str],
) -> pd.DataFrame:
    """(uid, segment) for every membership of the users in ``summary`` (one partition)."""
    uid = summary["uid"].to_numpy()
    parts: list[pd.DataFrame] = []
    for spec in specs:
        user_rules = [r for r in spec.rules if r.field != "affinity"]
        keep = np.ones(len(summary), dtype=bool)
        for rule in user_rules:
            keep &= _holds(_column(summary, rule.field, as_of_ms), rule)
        if not spec.for_each:
            parts.append(pd.DataFrame({"uid": uid[keep], "segment": spec.name}))
            continue
        rows = affinity[affinity["uid"].isin(uid[keep]).to_numpy()]
        share = rows["share"].to_numpy()
        ok = np.ones(len(rows), dtype=bool)
        for rule in (r for r in spec.rules if r.field == "affinity"):
            ok &= _holds(share, rule)
        names = np.array([n for n, _ in spec.names(categories)], dtype=object)
        parts.append(
            pd.DataFrame(
                {"uid": rows["uid"].to_numpy()[ok], "segment": names[rows["cat"].to_numpy()[ok]]}
            )
        )
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["uid", "segment"])
    return (
        out.sort_values(["uid", "segment"], kind="stable")
        .reset_index(drop=True)
        .astype(SEGMENT_DTYPES)
    )


def descriptions(specs: Sequence[SegmentSpec], categories: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for spec in specs:
        for name, i in spec.names(categories):
            out[name] = (
                spec.description.replace("{category}", categories[i])
                if i >= 0
                else spec.description
            )
    return out
