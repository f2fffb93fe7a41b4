"""Declarative segments: the file is checked before any work, and the rules select the
users they say."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from profile_engine.compute import codes
from profile_engine.compute import segment_rules as sr
from profile_engine.errors import SegmentFileError

AS_OF = 1_790_000_000_000
DAY = codes.DAY_MS


def summary(*rows: dict[str, Any]) -> pd.DataFrame:
    base = {
        "interactions": 5,
        "last_cart_ts": -1,
        "last_purchase_ts": -1,
        "frequency": 0,
        "monetary": 0.0,
        "recency_days": np.nan,
        "r": 0,
        "f": 0,
        "m": 0,
        "opt_in": True,
        "registered": True,
        "country": "DE",
        "top_category": "books",
    }
    return pd.DataFrame([{**base, **r} for r in rows])


def summary_columns(**cols: list[object]) -> pd.DataFrame:
    """A summary frame from whole columns (the columns not given: a plain user)."""
    n = len(cols["uid"])
    base: dict[str, list[object]] = {
        "interactions": [5] * n,
        "last_cart_ts": [-1] * n,
        "last_purchase_ts": [-1] * n,
        "frequency": [0] * n,
        "monetary": [0.0] * n,
        "recency_days": [float("nan")] * n,
    }
    return pd.DataFrame({**base, **cols})


def test_builtin_file_loads() -> None:
    specs = sr.load()
    names = [s.name for s in specs]
    assert names[:3] == ["high_value", "lapsed", "cart_abandoners"]
    assert "affinity:{category}" in names


def test_builtin_rules_select_the_right_users() -> None:
    users = summary(
        {"uid": 1, "frequency": 9, "monetary": 900.0, "recency_days": 3.0, "r": 5, "f": 5, "m": 5},
        {"uid": 2, "frequency": 1, "monetary": 20.0, "recency_days": 90.0, "r": 1, "f": 1, "m": 1},
        # carted 2 days ago after buying 10 days ago: abandoned
        {
            "uid": 3,
            "frequency": 1,
            "recency_days": 10.0,
            "r": 3,
            "f": 1,
            "m": 2,
            "last_cart_ts": AS_OF - 2 * DAY,
            "last_purchase_ts": AS_OF - 10 * DAY,
        },
        # carted 2 days ago, bought after: not abandoned; carted 9 days ago: too old
        {
            "uid": 4,
            "last_cart_ts": AS_OF - 2 * DAY,
            "last_purchase_ts": AS_OF - 1 * DAY,
            "frequency": 1,
            "recency_days": 1.0,
        },
        {"uid": 5, "last_cart_ts": AS_OF - 9 * DAY, "interactions": 2},
    )
    affinity = pd.DataFrame({"uid": [1, 1, 5], "cat": [0, 1, 1], "share": [0.7, 0.3, 0.9]})
    out = sr.assign(users, affinity, sr.load(), AS_OF, ["books", "garden"])
    got = {(int(u), s) for u, s in zip(out["uid"], out["segment"], strict=True)}
    assert got == {
        (1, "high_value"),
        (1, "loyal"),
        (1, "affinity:books"),
        (2, "lapsed"),
        (3, "cart_abandoners"),
        # user 5 has 0.9 garden affinity but only 2 interactions
    }
    assert sr.descriptions(sr.load(), ["books"])["affinity:books"].startswith(
        "At least 35% of interest in books"
    )


def test_text_and_flag_rules() -> None:
    specs = sr.parse(
        {
            "segment": [
                {
                    "name": "dach_optin",
                    "rules": [
                        {"field": "country", "op": "in", "value": ["DE", "AT", "CH"]},
                        {"field": "opt_in", "op": "==", "value": True},
                    ],
                },
            ]
        }
    )
    users = summary({"uid": 1}, {"uid": 2, "country": "FR"}, {"uid": 3, "opt_in": False})
    out = sr.assign(users, pd.DataFrame({"uid": [], "cat": [], "share": []}), specs, AS_OF, [])
    assert out["uid"].tolist() == [1]



def test_segment_rules() -> None:
    summary = summary_columns(
        uid=[1, 2, 3, 4, 5, 6],
        frequency=[3, 1, 1, 0, 2, 0],
        monetary=[500.0, 20.0, 80.0, 0.0, 100.0, 0.0],
        recency_days=[2.0, 61.0, 10.0, float("nan"), 60.0, float("nan")],
        last_purchase_ts=[
            AS_OF - 2 * DAY,
            AS_OF - 61 * DAY,
            AS_OF - 10 * DAY,
            -1,
            AS_OF - 60 * DAY,
            -1,
        ],
        last_cart_ts=[AS_OF - 3 * DAY, -1, AS_OF - 1 * DAY, AS_OF - 6 * DAY, -1, AS_OF - 8 * DAY],
        interactions=[5, 5, 5, 2, 5, 5],
    )
    affinity = pd.DataFrame(
        {"uid": [1, 1, 4, 6], "cat": [0, 1, 0, 1], "share": [0.35, 0.65, 1.0, 0.3]}
    )
    # The built-in file, with high value as a fixed spend threshold for this small table.
    specs = tuple(
        sr.parse(
            {
                "segment": [
                    {
                        "name": "high_value",
                        "rules": [{"field": "monetary", "op": ">=", "value": 100.0}],
                    }
                ]
            }
        )
        + tuple(s for s in sr.load() if s.name not in {"high_value", "loyal"})
    )
    got = sr.assign(summary, affinity, specs, AS_OF, ("books", "garden"))
    members = {s: sorted(g["uid"]) for s, g in got.groupby("segment")}
    assert members == {
        "high_value": [1, 5],
        "lapsed": [2],  # 60 days exactly is not "more than 60"
        "cart_abandoners": [3, 4],  # 1 carted before buying; 6 carted 8 days ago
        "affinity:books": [1],  # user 4: only 2 interactions; 6: share below 0.35
        "affinity:garden": [1],
    }
    text = sr.descriptions(specs, ("books",))
    assert set(text) == {"high_value", "lapsed", "cart_abandoners", "affinity:books"}
    assert "60 days" in text["lapsed"]

@pytest.mark.parametrize(
    ("segment", "message"),
    [
        (
            {"name": "x", "rules": [{"field": "monetry", "op": ">", "value": 1}]},
            "segment 'x', rule #1: field: unknown field 'monetry'",
        ),
        (
            {"name": "x", "rules": [{"field": "monetary", "op": "~", "value": 1}]},
            "segment 'x', rule #1: op: '~' does not apply to monetary",
        ),
        (
            {"name": "x", "rules": [{"field": "monetary", "op": ">", "value": "lots"}]},
            "segment 'x', rule #1: value: monetary > needs a number",
        ),
        (
            {"name": "x", "rules": [{"field": "opt_in", "op": "==", "value": 1}]},
            "segment 'x', rule #1: value: opt_in == needs true or false",
        ),
        (
            {"name": "x", "rules": [{"field": "country", "op": "in", "value": "DE"}]},
            "segment 'x', rule #1: value: country in needs a list of text",
        ),
        (
            {"name": "x", "rules": [{"field": "affinity", "op": ">", "value": 0.5}]},
            "segment 'x', rule #1: field: affinity needs for_each",
        ),
        ({"name": "x", "rules": []}, "segment 'x': rules must be a non-empty list"),
        (
            {"name": "x", "colour": "red", "rules": [{"field": "m", "op": ">", "value": 1}]},
            "segment 'x': unknown key 'colour'",
        ),
        (
            {"name": "aff:{category}", "rules": [{"field": "m", "op": ">", "value": 1}]},
            "segment 'aff:{category}': a name with {category} needs for_each",
        ),
        (
            {"name": "x", "rules": [{"field": "m", "op": ">"}]},
            "segment 'x', rule #1: needs exactly the keys field, op, value",
        ),
    ],
)
def test_mistakes_name_the_segment_rule_and_field(segment: dict[str, Any], message: str) -> None:
    with pytest.raises(SegmentFileError) as err:
        sr.parse({"segment": [segment]})
    assert message in str(err.value)


def test_file_level_mistakes(tmp_path: Path) -> None:
    bad = tmp_path / "s.toml"
    bad.write_text("[[segment]\nname = 1")
    with pytest.raises(SegmentFileError, match="not valid TOML"):
        sr.load(bad)
    with pytest.raises(SegmentFileError, match="cannot read"):
        sr.load(tmp_path / "missing.toml")
    twice = {"name": "x", "rules": [{"field": "m", "op": ">", "value": 1}]}
    with pytest.raises(SegmentFileError, match="segment 'x': defined twice"):
        sr.parse({"segment": [twice, twice]})


def test_run_stops_on_a_bad_file_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from profile_engine import cli

    bad = tmp_path / "segments.toml"
    bad.write_text(
        '[[segment]]\nname = "vip"\nrules = [{ field = "monetry", op = ">", value = 1 }]\n'
    )
    # The inputs do not exist either: the segment file is checked first.
    code = cli.main(
        [
            "run",
            "--segments",
            str(bad),
            "--events",
            str(tmp_path / "none"),
            "--replica-url",
            f"sqlite:///{tmp_path}/none.db",
        ]
    )
    err = capsys.readouterr().err
    assert code == cli.EXIT_SETTINGS
    assert "segment 'vip', rule #1: field: unknown field 'monetry'" in err
    assert not (tmp_path / "none.db").exists()
