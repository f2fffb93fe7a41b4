"""The served ranker: EASE over recency-weighted purchases, blended with a recent-popularity prior.

Why this model: on Online Retail under EVALUATION.md it beats plain EASE (the strongest
baseline) by 12% NDCG@10 (0.114 vs 0.102), with parameters chosen on the validation split
(README, "Recommendation quality"). Three changes to EASE (Steck 2019) do it:
- the Gram matrix weights each (user, item) by its age (``gram_half_life_days``), so
  co-purchases of this season count more than last year's;
- a user's query row is weighted by age too (``query_half_life_days``): recent baskets say
  more about the next one;
- scores are scaled to the user's best and blended with item popularity over the last weeks
  (``popularity_weight``), which helps short histories and seasonal items.

Two families (``RankerParams.family``), chosen per shop by ``profile_engine.tuning``:
- ``ease``: the ``max_items`` products with the most users (dense max_items^2 float32
  weights: 64 MB at 4,000, twice that at the peak of ``compute.ease``'s float32 Cholesky);
- ``knn``: item-KNN with shrinkage (``compute.item_knn``) over every product with an
  interaction, in memory that grows with the co-occurring pairs, not the catalogue squared.
Views, cart adds and purchases all train both, each with its own weight (tuned too).
Split for a cluster: ``local_item_stats`` and ``local_gram`` run per user-partition
and are summed; ``fit`` runs once; ``score`` runs per user-partition with the fitted model
broadcast.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from profile_engine.compute import codes, cooccurrence, ease, item_knn, priors, score_kernel

# Users scored per kernel call (``score_kernel``): bounds the batch's category shares
# (users x categories) and its reasons' scratch (history entries x k), whatever the number
# of modelled items (the kernel itself holds one row of scores at a time).
SCORE_BATCH = 2_000
FAMILIES = ("ease", "knn")
RANKED_DTYPES: dict[str, str] = {
    "uid": "int64",
    "pcode": "int32",
    "score": "float64",
    "source": "int32",  # the user's product that contributed most; -1: popularity did
    "source_etype": "int8",
}
ITEM_STATS_DTYPES: dict[str, str] = {"pcode": "int32", "users": "int64", "recent": "float64"}


@dataclass(frozen=True)
class RankerParams:
    """Defaults: tuned once on the Online Retail validation split (last 12.5% of train time)
    by NDCG@10; ``profile_engine.tuning`` starts from them and tunes each shop's own."""

    lam: float = 150.0  # EASE L2 penalty, in units of (weighted) co-purchases
    gram_half_life_days: float = 120.0
    query_half_life_days: float = 60.0
    popularity_weight: float = 0.2  # prior added to scores scaled to the user's best (1.0)
    category_weight: float = 0.0  # the same for popularity within the user's categories
    popularity_half_life_days: float = 14.0
    max_items: int = 4_000  # ease only: knn models every product with an interaction
    family: str = "ease"
    # Interest of a view and of a cart add relative to a purchase (1).
    view_weight: float = 0.2
    cart_weight: float = 0.6
    knn_neighbours: int = 20
    knn_shrink: float = 10.0

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"ranker family must be one of {FAMILIES}, got {self.family!r}")

    def describe(self) -> dict[str, str]:
        """The settings that matter for this family, as text (manifest, reports)."""
        out = {"family": self.family}
        if self.family == "ease":
            out |= {"lambda": f"{self.lam:g}", "max_items": str(self.max_items)}
        else:
            out |= {"neighbours": str(self.knn_neighbours), "shrink": f"{self.knn_shrink:g}"}
        return out | {
            "gram_half_life_days": f"{self.gram_half_life_days:g}",
            "query_half_life_days": f"{self.query_half_life_days:g}",
            "popularity_weight": f"{self.popularity_weight:g}",
            "category_weight": f"{self.category_weight:g}",
            "popularity_half_life_days": f"{self.popularity_half_life_days:g}",
            "view_weight": f"{self.view_weight:g}",
            "cart_weight": f"{self.cart_weight:g}",
        }

    def with_description(self, described: dict[str, str]) -> RankerParams:
        """These params with the settings ``describe()`` wrote (a manifest's choice) put
        back; the other family's settings stay as they are. ValueError when one is not
        a number or the family is unknown."""
        names = {"lambda": "lam", "neighbours": "knn_neighbours", "shrink": "knn_shrink"}
        changes: dict[str, Any] = {}
        for key, text in described.items():
            name = names.get(key, key)
            if name not in RankerParams.__dataclass_fields__:
                continue  # a setting a later version dropped
            current = getattr(self, name)
            changes[name] = text if isinstance(current, str) else type(current)(float(text))
        return replace(self, **changes)


@dataclass(frozen=True)
class RankerModel:
    columns: np.ndarray  # int32 catalogue code of each model item, ascending
    position: np.ndarray  # int32 per catalogue code: its model column, -1 when not modelled
    weights: np.ndarray | sp.csr_matrix  # float32 (m, m) item-item weights, zero diagonal
    prior: np.ndarray  # float32 (m,) recent popularity, best = 1
    params: RankerParams
    category: np.ndarray  # int32 (m,) category code of each model item (0s when unknown)
    category_prior: np.ndarray  # float32 (m,) recent popularity, best of its category = 1


def _kind_weights(params: RankerParams) -> np.ndarray:
    table = np.zeros(len(codes.EVENT_TYPES), dtype=np.float64)
    table[[codes.VIEW, codes.ADD_TO_CART, codes.PURCHASE]] = (
        params.view_weight, params.cart_weight, 1.0,
    )
    return table


def _weights(
    items: pd.DataFrame, as_of_ms: int, half_life_days: float, params: RankerParams
) -> np.ndarray:
    """Interest of each (user, item) row: the weight of the user's strongest event type with
    it (purchase = 1) x age decay (an infinite half-life: no decay)."""
    age = np.maximum(as_of_ms - items["last_ts"].to_numpy(), 0) / codes.DAY_MS
    kind = _kind_weights(params)[items["etype"].to_numpy()]
    out: np.ndarray = kind * np.power(0.5, age / half_life_days)
    return out


def local_item_stats(items: pd.DataFrame, as_of_ms: int, params: RankerParams) -> pd.DataFrame:
    """Per product of this partition: distinct users and the decayed recent-popularity sum."""
    work = pd.DataFrame(
        {
            "pcode": items["pcode"].to_numpy(),
            "users": np.ones(len(items), dtype=np.int64),
            "recent": _weights(items, as_of_ms, params.popularity_half_life_days, params),
        }
    )
    return work.groupby("pcode", sort=False).sum().reset_index().astype(ITEM_STATS_DTYPES)


def choose_columns(stats: pd.DataFrame, n_products: int, params: RankerParams) -> np.ndarray:
    """Catalogue codes of the modelled products (ascending): for ease the ``max_items`` with
    the most users, for knn every product with an interaction."""
    max_items = params.max_items if params.family == "ease" else n_products
    stats = stats.groupby("pcode", sort=False)[["users"]].sum().reset_index()
    best = stats.sort_values(["users", "pcode"], ascending=[False, True], kind="stable")
    cols = np.sort(best["pcode"].to_numpy(dtype=np.int32)[:max_items])
    return cols[cols < n_products]


def _lookup(columns: np.ndarray, n_products: int) -> np.ndarray:
    position = np.full(n_products, -1, dtype=np.int32)
    position[columns] = np.arange(len(columns), dtype=np.int32)
    return position


def _matrix(
    items: pd.DataFrame, position: np.ndarray, m: int, values: np.ndarray
) -> tuple[sp.csr_matrix, np.ndarray]:
    """Rows = this frame's users (ascending uid), columns = model items; and the uids."""
    col = position[items["pcode"].to_numpy()]
    keep = col >= 0
    uids, row = np.unique(items["uid"].to_numpy()[keep], return_inverse=True)
    x = sp.csr_matrix((values[keep], (row, col[keep])), shape=(len(uids), m), dtype=np.float64)
    return x, uids


def local_gram(
    items: pd.DataFrame, columns: np.ndarray, n_products: int, as_of_ms: int, params: RankerParams
) -> np.ndarray | sp.csr_matrix:
    """This partition's share of the weighted Gram matrix (sum over users of w x x'):
    dense for ease, sparse for knn (the pairs that co-occur)."""
    w = _weights(items, as_of_ms, params.gram_half_life_days, params)
    x, _ = _matrix(items, _lookup(columns, n_products), len(columns), np.sqrt(w))
    return cooccurrence.gram(x, dense=params.family != "knn")


def fit(
    gram: np.ndarray | sp.spmatrix,
    stats: pd.DataFrame,
    columns: np.ndarray,
    n_products: int,
    params: RankerParams,
    categories: np.ndarray | None = None,
) -> RankerModel:
    """The model from the summed Gram matrix and item stats (runs once, on one worker).
    ``categories``: category code per catalogue product, for the category prior."""
    return with_weights(
        fit_weights(gram, params), stats, columns, n_products, params, categories
    )


# The settings ``fit_weights`` depends on (with the Gram's: its columns and weighting):
# trials that differ only in others can share the weights (``tuning.fit_memo``).
WEIGHT_FIELDS = (
    "family", "max_items", "lam", "knn_neighbours", "knn_shrink",
    "gram_half_life_days", "view_weight", "cart_weight",
)


def fit_weights(
    gram: np.ndarray | sp.spmatrix, params: RankerParams
) -> np.ndarray | sp.csr_matrix:
    """The item-item weights of ``params.family`` from the summed Gram matrix."""
    if not gram.shape[0]:
        return np.zeros((0, 0), np.float32)
    if params.family == "knn":
        return item_knn.weights(gram, params.knn_neighbours, params.knn_shrink)
    dense = gram.toarray() if sp.issparse(gram) else gram  # type: ignore[union-attr]
    return ease.weights(np.asarray(dense), params.lam)


def with_weights(
    weights: np.ndarray | sp.csr_matrix,
    stats: pd.DataFrame,
    columns: np.ndarray,
    n_products: int,
    params: RankerParams,
    categories: np.ndarray | None = None,
) -> RankerModel:
    """The model around fitted ``weights``: the popularity priors from ``stats``."""
    recent = stats.groupby("pcode", sort=False)["recent"].sum()
    present = recent.reindex(columns).fillna(0.0).to_numpy(np.float64)
    category = (
        np.zeros(len(columns), np.int32) if categories is None
        else categories[columns].astype(np.int32)
    )
    return RankerModel(
        columns=columns.astype(np.int32),
        position=_lookup(columns, n_products),
        weights=weights,
        prior=priors.scaled(present).astype(np.float32),
        params=params,
        category=category,
        category_prior=priors.within_category(present, category).astype(np.float32),
    )


def _reasons(
    xb: sp.csr_matrix, kind_data: np.ndarray, model: RankerModel, top: np.ndarray,
    mine: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """For each (user, pick) of ``top``: the user's product that contributed most to it (its
    catalogue code) and the event type of that interaction; -1 where ``mine`` is False (the
    priors outweigh the personal part) or the user has no history. One pass over all the
    batch's history entries at once (no loop per user); ties go to the first entry, as
    argmax would."""
    n, k = top.shape
    source = np.full((n, k), -1, dtype=np.int32)
    etype = np.full((n, k), -1, dtype=np.int8)
    counts = np.diff(xb.indptr)
    if xb.nnz == 0 or k == 0:
        return source, etype
    rows = np.repeat(np.arange(n), counts)  # the user of each history entry
    hist = xb.indices
    picks = top[rows]  # (entries, k)
    if sp.issparse(model.weights):
        w = np.asarray(model.weights[np.repeat(hist, k), picks.ravel()]).reshape(-1, k)
    else:
        w = model.weights[hist[:, None], picks]
    contrib = xb.data[:, None] * w
    has = counts > 0
    starts = xb.indptr[:-1][has]
    most = np.zeros((n, k))
    most[has] = np.maximum.reduceat(contrib, starts, axis=0)
    entry = np.where(contrib == most[rows], np.arange(len(rows))[:, None], len(rows))
    first = np.minimum.reduceat(entry, starts, axis=0)  # (users with history, k)
    ok = mine[has]
    source[has] = np.where(ok, model.columns[hist[first]], -1)
    etype[has] = np.where(ok, kind_data[first] - 1, -1)
    return source, etype


def score(
    model: RankerModel,
    items: pd.DataFrame,
    as_of_ms: int,
    k: int,
    exclude: pd.DataFrame | None = None,
    allowed: np.ndarray | None = None,
    reasons: bool = True,
) -> pd.DataFrame:
    """Top ``k`` model items per user of ``items`` (RANKED_DTYPES, best first).

    ``exclude`` (uid, pcode) rows are never returned (the engine passes bought products,
    the evaluation every train item); ``allowed`` masks catalogue codes (in stock).
    Without ``reasons`` (the evaluation: only the lists count) source columns are -1.
    """
    m = len(model.columns)
    if items.empty or m == 0:
        return codes.empty_frame(RANKED_DTYPES)
    p = model.params
    w = _weights(items, as_of_ms, p.query_half_life_days, p)
    x, uids = _matrix(items, model.position, m, w)
    x = x.astype(np.float32)  # float32 scores: the same figures to the fifth decimal
    banned = sp.csr_matrix((len(uids), m), dtype=bool)
    if exclude is not None and len(exclude):
        ex = exclude[np.isin(exclude["uid"].to_numpy(), uids)]
        col = model.position[ex["pcode"].to_numpy()]
        keep = col >= 0
        row = np.searchsorted(uids, ex["uid"].to_numpy()[keep])
        banned = sp.csr_matrix(
            (np.ones(int(keep.sum()), dtype=bool), (row, col[keep])), shape=(len(uids), m)
        )
    blocked = np.zeros(m, dtype=bool) if allowed is None else ~allowed[model.columns]
    # For reasons: each row's strongest event type, in the same sparse layout as ``x``.
    kinds = (
        _matrix(items, model.position, m, items["etype"].to_numpy(np.float64) + 1)[0]
        if reasons else None
    )
    k = min(k, m)
    # The priors as numpy added them to float32 scores (the kernel's figures are the same).
    scorer = score_kernel.scorer(
        model.weights,
        p.popularity_weight * model.prior,
        model.category,
        (p.category_weight * np.asarray(model.category_prior, np.float64)).astype(np.float32),
        blocked,
    )
    out: list[pd.DataFrame] = []
    for lo in range(0, len(uids), SCORE_BATCH):
        xb = x[lo : lo + SCORE_BATCH]
        share = priors.category_shares(xb, model.category) if p.category_weight > 0 else None
        top, best, own = score_kernel.best(scorer, xb, share, banned[lo : lo + SCORE_BATCH], k)
        # The reason is the user's biggest contributor, unless the priors outweigh the
        # whole personal part of the score.
        if kinds is not None:
            mine = own > best - own
            kind_data = kinds.data[kinds.indptr[lo] : kinds.indptr[lo + len(xb.indptr) - 1]]
            source, source_etype = _reasons(xb, kind_data, model, top, mine)
        else:
            source = np.full(top.shape, -1, dtype=np.int32)
            source_etype = np.full(top.shape, -1, dtype=np.int8)
        valid = np.isfinite(best)
        out.append(
            pd.DataFrame(
                {
                    "uid": np.repeat(uids[lo : lo + SCORE_BATCH], k)[valid.ravel()],
                    "pcode": model.columns[top][valid],
                    "score": best[valid],
                    "source": source[valid],
                    "source_etype": source_etype[valid],
                }
            )
        )
    return pd.concat(out, ignore_index=True).astype(RANKED_DTYPES)


def buy_again(items: pd.DataFrame, as_of_ms: int, k: int, half_life_days: float = 60.0) -> (
    pd.DataFrame
):
    """Each user's own bought products most likely to be bought again: times bought x recency."""
    bought = items[items["bought"].to_numpy()]
    age = np.maximum(as_of_ms - bought["last_ts"].to_numpy(), 0) / codes.DAY_MS
    ranked = bought.assign(
        again=bought["n"].to_numpy() * np.power(0.5, age / half_life_days)
    ).sort_values(["uid", "again", "pcode"], ascending=[True, False, True], kind="stable")
    ranked = ranked[ranked.groupby("uid").cumcount().to_numpy() < k]
    return ranked[["uid", "pcode", "again"]].rename(columns={"again": "score"}).reset_index(
        drop=True
    )


def fit_frame(
    items: pd.DataFrame,
    n_products: int,
    as_of_ms: int,
    params: RankerParams,
    categories: np.ndarray | None = None,
) -> RankerModel:
    """Single-process fit (one partition holding every user): tests and small evaluations."""
    stats = local_item_stats(items, as_of_ms, params)
    columns = choose_columns(stats, n_products, params)
    gram = local_gram(items, columns, n_products, as_of_ms, params)
    return fit(gram, stats, columns, n_products, params, categories)
