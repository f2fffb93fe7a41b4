"""A tuned model choice is carried into the following runs without trials until it is
``tuning_every_days`` old; the run still fits and evaluates what it serves."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from generation import ModelChoice, ModelTrial
from profile_engine import pipeline
from profile_engine.compute.ranker import RankerParams
from profile_engine.settings import EngineSettings
from profile_engine.tuning import carry
from tests.profile_engine.test_model_choice import _write, bestseller_shop

NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
TUNED = ModelChoice(
    served="ranker",
    reason="ranker: ranker (tuned) beat ranker (first round), ndcg@10 0.1100 vs 0.1000",
    settings=RankerParams(family="knn", knn_neighbours=35, knn_shrink=2.5,
                          popularity_weight=0.4, view_weight=0.1).describe(),
    trials=(ModelTrial("ranker", {"family": "knn"}, 0.11, 3.0),),
    budget_s=120.0, used_s=118.5,
    tuned_at=(NOW - timedelta(days=2)).isoformat(timespec="seconds"),
)


def test_a_recent_choice_is_carried_with_its_settings_and_trials() -> None:
    carried = carry.carried(TUNED, RankerParams(), 7, NOW)
    assert carried is not None
    choice, record = carried
    assert choice.served == "ranker" and choice.outcomes == () and choice.used_s == 0
    assert choice.params == RankerParams(family="knn", knn_neighbours=35, knn_shrink=2.5,
                                         popularity_weight=0.4, view_weight=0.1)
    assert record.trials == TUNED.trials and record.tuned_at == TUNED.tuned_at
    assert record.used_s == 0 and record.reason == choice.reason
    assert record.reason.startswith("carried from the trials of 2026-11-26 03:00 UTC")
    assert record.reason.endswith(TUNED.reason)
    # Carried again the next night: the verdict is not wrapped twice.
    again = carry.carried(record, RankerParams(), 7, NOW + timedelta(days=1))
    assert again is not None and again[1].reason.count("carried from") == 1
    assert again[1].reason.endswith(TUNED.reason)


def test_the_trials_run_again_when_the_choice_is_old_unknown_or_unreadable() -> None:
    defaults = RankerParams()
    assert carry.carried(None, defaults, 7, NOW) is None
    assert carry.carried(TUNED, defaults, 0, NOW) is None  # 0: trials on every run
    assert carry.carried(TUNED, defaults, 2, NOW) is None  # exactly two days old
    assert carry.carried(TUNED, defaults, 7, NOW - timedelta(days=3)) is None  # future
    assert carry.carried(replace(TUNED, tuned_at=""), defaults, 7, NOW) is None  # old manifest
    assert carry.carried(replace(TUNED, tuned_at="yesterday"), defaults, 7, NOW) is None
    assert carry.carried(replace(TUNED, tuned_at="2026-11-27T03:00:00"), defaults, 7,
                         NOW) is None  # no zone: not comparable
    assert carry.carried(replace(TUNED, served="deep_model"), defaults, 7, NOW) is None
    bad = replace(TUNED, settings={**TUNED.settings, "neighbours": "many"})
    assert carry.carried(bad, defaults, 7, NOW) is None
    # A baseline is carried with the defaults as the ranker's (unused) settings.
    baseline = carry.carried(replace(TUNED, served="most_popular", settings={}), defaults, 7,
                             NOW)
    assert baseline is not None and baseline[0].served == "most_popular"
    assert baseline[0].params == defaults


def test_the_next_run_carries_the_choice_and_retune_runs_the_trials(
    tmp_path: Path, scheduler_address: str, moto_endpoint: str, moto_table: str
) -> None:
    settings = EngineSettings(
        **_write(bestseller_shop(seed=6), tmp_path),
        scheduler=scheduler_address, table=moto_table, dynamodb_endpoint_url=moto_endpoint,
        tuning_budget_s=0,
    )
    first = pipeline.run(settings)
    assert first.generation and first.model is not None, first.format()
    assert first.model.tuned_at and first.model.used_s > 0 and first.model.trials

    second = pipeline.run(settings)
    assert second.generation and second.model is not None, second.format()
    assert second.model.served == first.model.served == "most_popular"
    assert second.model.tuned_at == first.model.tuned_at
    assert second.model.trials == first.model.trials and second.model.used_s == 0
    assert second.model.reason.startswith("carried from the trials of")
    assert "tuning      none this run" in second.format()
    # Carrying skips only the choice: the served model is still evaluated on this input.
    assert second.metrics["ndcg@10"] == first.metrics["ndcg@10"]

    third = pipeline.run(settings.model_copy(update={"tuning_every_days": 0}))
    assert third.model is not None and third.model.used_s > 0
    assert third.model.tuned_at >= first.model.tuned_at
    assert not third.model.reason.startswith("carried")
