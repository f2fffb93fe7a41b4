"""Serve the last tuned choice again until it is ``tuning_every_days`` old.

The trials are the job's most expensive stage (they use their whole time budget, about two
minutes), and a shop's best model and settings move slowly: like a recommender service that
retrains nightly and re-runs its hyper-parameter search on request, the job runs trials when
the served generation's choice is older than the interval (or has none), and otherwise
carries that choice, with its trials and ``tuned_at``, into the new manifest. Carrying skips
only the choice: every run still fits the model on its own input and the quality gate
evaluates what will be served, so a choice that stopped working is caught there.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from generation import ModelChoice
from profile_engine.compute.ranker import RankerParams
from profile_engine.tuning.choose import Choice
from profile_engine.tuning.trials import BASELINES, RANKED

CARRIED = "carried from the trials of"
THEN = "; their verdict: "


def carried(previous: ModelChoice | None, defaults: RankerParams, every_days: float,
            now: datetime) -> tuple[Choice, ModelChoice] | None:
    """The run's choice and its manifest record when ``previous`` (the served generation's)
    is recent enough to serve again; None when the trials must run."""
    if previous is None or every_days <= 0 or not previous.tuned_at:
        return None
    if previous.served not in RANKED and previous.served not in BASELINES:
        return None  # a model this version does not know
    try:
        tuned = datetime.fromisoformat(previous.tuned_at)
        params = (defaults.with_description(previous.settings) if previous.served in RANKED
                  else defaults)
    except ValueError:
        return None
    if tuned.tzinfo is None or not timedelta(0) <= now - tuned < timedelta(days=every_days):
        return None
    verdict = previous.reason.split(THEN, 1)[1] if previous.reason.startswith(CARRIED) \
        else previous.reason
    reason = (f"{CARRIED} {tuned:%Y-%m-%d %H:%M} UTC (trials run every {every_days:g} days)"
              f"{THEN}{verdict}")
    choice = Choice(previous.served, params, reason, (), previous.budget_s, 0.0)
    return choice, replace(previous, reason=reason, used_s=0.0)
