"""Which model a shop gets: the ranker's settings tuned on the shop's own validation split,
and the guard that serves a simple baseline when no ranker candidate beats it there.

    space.py    the candidates: the families, and the values each setting may take
    trials.py   one candidate fitted on validation-train and scored on validation users
    choose.py   rounds of trials in parallel on the Dask cluster, within a time budget
    cluster_trials.py   a round's trials as tasks on the workers (split held, weights shared)
    carry.py    the served choice again, without trials, until it is tuning_every_days old
"""

from profile_engine.tuning.choose import Choice, choose
from profile_engine.tuning.trials import BASELINES, Candidate

__all__ = ["BASELINES", "Candidate", "Choice", "choose"]
