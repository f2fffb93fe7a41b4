"""What a worker keeps between the trials it runs on one validation split.

Most rounds of the search change a setting the fitted item-item weights do not depend on
(the popularity and category priors, the query's half-life: ``ranker.WEIGHT_FIELDS`` lists
the ones they do), so the trials of such a round, and the first trial of the next round,
share the best model's weights instead of fitting them again; on a cluster such a round's
trials on other workers get them from the worker that fitted them (``fitted_weights``,
``install``). The split's per-user item frame is built once too. The last used weights are
kept, and earlier ones within EXTRA_BYTES (an EASE model, m^2 float32, is kept alone), and
the last KNN Gram within GRAM_BYTES (the neighbour and shrinkage rounds prune it again);
everything goes at ``clear`` when the choice is made (or with the split object, for trials
outside a named search).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from profile_engine.compute import item_knn, ranker
from profile_engine.evaluation import compared_models
from profile_engine.evaluation.split import Split


@dataclass
class _Kept:
    split: weakref.ref[Split]
    search: str | None  # the search the trials belong to (None: the split object decides)
    items: pd.DataFrame  # the split's train rows as the engine's per-user item frame
    as_of_ms: int
    # Fitted weights by weight_key, the last used last (``_keep`` bounds them).
    weights: dict[tuple[Any, ...], Any] = field(default_factory=dict)
    # The last KNN fit's Gram and its GRAM_FIELDS values (``_gram``).
    gram: tuple[tuple[Any, ...], sp.csr_matrix] | None = None


# Weights kept besides the last used, while together they take at most this: a search's
# best so far was often fitted a trial or two before a worker's last (KNN weights are a few
# MB; an EASE model of 4,000 items is 64 MB, kept alone).
EXTRA_BYTES = 32 * 2**20
# The last KNN Gram is kept while it takes at most this (5,000 items with busy users: 55 MB):
# computing it is half of a KNN fit, and a round of neighbour or shrinkage settings prunes
# the same one again.
GRAM_BYTES = 128 * 2**20
# What ``ranker.local_gram`` depends on besides the split: the weights' settings but those
# applied to the Gram after it is built (derived, so a setting added to the weights also
# invalidates a kept Gram unless it is named here).
AFTER_GRAM = ("lam", "knn_neighbours", "knn_shrink")
GRAM_FIELDS = tuple(f for f in ranker.WEIGHT_FIELDS if f not in AFTER_GRAM)
_kept: _Kept | None = None
# The search a worker holds the inputs of (``hold``): its name, split, categories, select.
_held: tuple[str, Split, np.ndarray, np.ndarray] | None = None


def clear() -> None:
    """Drop what is kept and held (the weights can be hundreds of MB)."""
    global _kept, _held
    _kept = _held = None


def hold(search: str, split: Split, categories: np.ndarray, select: np.ndarray) -> None:
    """Keep a search's inputs in this worker process for its trials (``held``). Outside
    Dask's managed memory on purpose: a worker past its spill threshold would write a
    scattered split to disk and read it back for every trial."""
    global _held
    _held = (search, split, categories, select)


def held(search: str) -> tuple[Split, np.ndarray, np.ndarray]:
    """The split, categories and select ``hold`` kept for ``search``; LookupError when this
    process holds another search's or none (a worker restarted during the search)."""
    if _held is None or _held[0] != search:
        raise LookupError(f"this worker does not hold the tuning search {search}'s split "
                          "(restarted since the search began?)")
    return _held[1], _held[2], _held[3]


def engine_ranker(
    split: Split,
    params: ranker.RankerParams,
    categories: np.ndarray,
    name: str,
    search: str | None = None,
) -> compared_models.EngineRanker:
    """The engine's ranker at ``params`` fitted on ``split.train`` (``categories``: per
    dense train item), through what this process kept from earlier trials on the split.
    ``search`` names the search the trial is part of: a worker that spilled the split to
    disk reads it back as another object, and the trials still share (``choose`` clears
    the workers' memos when the search ends)."""
    kept = _for(split, search)
    stats = ranker.local_item_stats(kept.items, kept.as_of_ms, params)
    columns = ranker.choose_columns(stats, split.n_items, params)
    model = ranker.with_weights(
        _weights(kept, split, params, columns), stats, columns, split.n_items, params, categories
    )
    return compared_models.EngineRanker.fitted(
        params, name, categories, kept.items, model, kept.as_of_ms
    )


def weight_key(params: ranker.RankerParams) -> tuple[Any, ...]:
    """What the fitted weights of ``params`` depend on (trials with equal keys share them)."""
    return tuple(getattr(params, f) for f in ranker.WEIGHT_FIELDS)


def fitted_weights(search: str, params: ranker.RankerParams) -> Any:
    """The weights of ``params`` on the split this worker holds for ``search``: kept ones
    when there are, else fitted here (and kept). Another worker's trials of a round that
    shares them get them from here (``install``) instead of fitting them again."""
    split, _, _ = held(search)
    kept = _for(split, search)
    stats = ranker.local_item_stats(kept.items, kept.as_of_ms, params)
    return _weights(kept, split, params, ranker.choose_columns(stats, split.n_items, params))


def install(search: str, params: ranker.RankerParams, weights: Any) -> None:
    """Keep ``weights`` (``fitted_weights`` of ``params``, from any worker) for the trials
    of ``search`` in this process."""
    split, _, _ = held(search)
    _keep(_for(split, search), weight_key(params), weights)


def _weights(
    kept: _Kept, split: Split, params: ranker.RankerParams, columns: np.ndarray
) -> Any:
    key = weight_key(params)
    if key in kept.weights:
        weights = kept.weights.pop(key)
    else:
        # Freed before the next weights are fitted, not after: those _keep would drop.
        _keep(kept, None, None)
        weights = ranker.fit_weights(_gram(kept, split, params, columns), params)
    _keep(kept, key, weights)
    return weights


def _gram(
    kept: _Kept, split: Split, params: ranker.RankerParams, columns: np.ndarray
) -> np.ndarray | sp.csr_matrix:
    """``ranker.local_gram`` of ``params``: the kept one when the last KNN fit's has the
    same GRAM_FIELDS (pruning does not change it), else built (and kept, for KNN)."""
    key = tuple(getattr(params, f) for f in GRAM_FIELDS)
    if kept.gram is not None and kept.gram[0] == key:
        return kept.gram[1]
    kept.gram = None  # freed before the next one is built
    gram = ranker.local_gram(kept.items, columns, split.n_items, kept.as_of_ms, params)
    if sp.issparse(gram) and item_knn.model_bytes(gram) <= GRAM_BYTES:
        kept.gram = (key, gram)
    return gram


def _keep(kept: _Kept, key: tuple[Any, ...] | None, weights: Any) -> None:
    """``weights`` as the last used (None: none), and as many of the others, last used
    first, as fit in EXTRA_BYTES."""
    room = EXTRA_BYTES
    for old in reversed(list(kept.weights)):
        room -= 0 if old == key else _bytes(kept.weights[old])
        if room < 0 or old == key:
            del kept.weights[old]
    if key is not None:
        kept.weights[key] = weights


def _bytes(weights: Any) -> int:
    return item_knn.model_bytes(weights) if sp.issparse(weights) else int(weights.nbytes)


def _for(split: Split, search: str | None) -> _Kept:
    global _kept
    same = _kept is not None and (
        _kept.search == search if search is not None else _kept.split() is split
    )
    if not same:
        _kept = None
        items = compared_models.train_items(split.train)
        _kept = _Kept(weakref.ref(split), search, items, int(split.train["ts"].max()))
        if search is None:  # kept for this object only: goes with it
            weakref.finalize(split, _forget_dead)
    assert _kept is not None
    return _kept


def _forget_dead() -> None:
    """A split was collected: drop what was kept for it (not what a newer split has)."""
    if _kept is not None and _kept.search is None and _kept.split() is None:
        clear()
