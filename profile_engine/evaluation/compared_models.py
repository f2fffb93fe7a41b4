"""The models an evaluation compares: baselines (most popular overall and per category,
item-item cosine, EASE) and the engine's served ranker, behind one small interface (fit on
train, top-k for users). None holds a dense item x item matrix of a large catalogue, and
every top-k is taken in user batches of bounded size, so no catalogue is too large to rank.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd
import scipy.sparse as sp

from profile_engine.compute import ease, item_knn, profiles, ranker
from profile_engine.compute.top_k import best as best_columns

# The most score cells (users x items, float64) one batch of ``recommend`` holds.
BATCH_CELLS = 8_000_000
# EASE inverts a dense item x item matrix (8 bytes a cell): above this many items it models
# the most popular ones only, and says so.
MAX_DENSE_ITEMS = 12_000


def user_item(train: pd.DataFrame, n_users: int, n_items: int) -> sp.csr_matrix:
    """Binary user x item matrix of the train interactions."""
    m = sp.csr_matrix(
        (np.ones(len(train), dtype=np.float32), (train["u"].to_numpy(), train["i"].to_numpy())),
        shape=(n_users, n_items),
    )
    m.data[:] = 1.0
    return m


def batched(users: np.ndarray, n_items: int, k: int, scores: Any, seen: sp.csr_matrix) -> (
    np.ndarray
):
    """``top_k`` over users in batches: ``scores(users)`` gives a new dense (batch, n_items)
    array (``top_k`` writes over it)."""
    step = max(1, BATCH_CELLS // max(n_items, 1))
    parts = [
        top_k(scores(users[lo : lo + step]), seen[users[lo : lo + step]], k)
        for lo in range(0, len(users), step)
    ]
    return np.concatenate(parts) if parts else np.empty((0, k), dtype=np.int64)


def top_k(scores: np.ndarray, seen: sp.csr_matrix, k: int) -> np.ndarray:
    """Best ``k`` item codes per row, the user's train items excluded (ties: lower code).
    ``scores`` is scratch: a float64 one is written over (not copied: 64 MB a batch)."""
    scores = np.asarray(scores, dtype=np.float64)
    _write(scores, seen.tocoo(), -np.inf)
    return best_columns(scores, k)


def _write(block: np.ndarray, cells: sp.coo_matrix, values: Any) -> None:
    """``block[cells.row, cells.col] = values`` through flat positions: 2-D fancy indexing
    costs several times as much on a million cells."""
    flat = block.reshape(-1)  # a view: the block is C-contiguous
    flat[cells.row.astype(np.int64) * block.shape[1] + cells.col] = values


class Model(Protocol):
    name: str

    def fit(self, train: pd.DataFrame, n_users: int, n_items: int) -> None: ...

    def recommend(self, users: np.ndarray, k: int) -> np.ndarray: ...


@dataclass
class MostPopular:
    """Items by distinct train buyers."""

    name: str = "most_popular"
    _x: sp.csr_matrix = field(init=False, repr=False)
    _pop: np.ndarray = field(init=False, repr=False)

    def fit(self, train: pd.DataFrame, n_users: int, n_items: int) -> None:
        self._x = user_item(train, n_users, n_items)
        self._pop = np.asarray(self._x.sum(axis=0)).ravel()

    def recommend(self, users: np.ndarray, k: int) -> np.ndarray:
        # A user's k best unseen items are among the k + (items they have seen) most popular:
        # only those columns are ranked (ascending codes, so ties still go to the lower code).
        seen = self._x[users]
        most = int(np.diff(seen.indptr).max(initial=0))
        order = np.argsort(-self._pop, kind="stable")
        head = np.sort(order[: k + most])
        pop = self._pop[head].astype(np.float64)
        top = batched(
            np.arange(len(users)), len(head), k, lambda u: np.tile(pop, (len(u), 1)),
            seen[:, head],
        )
        ranked: np.ndarray = head[top]
        return ranked


@dataclass
class CategoryPopular:
    """What the job serves without a personal tier: the most popular items of each user's
    top categories (by share of their train interactions), then the most popular overall."""

    categories: np.ndarray  # category code of each dense train item
    top: int = 3
    name: str = "category_popular"
    _x: sp.csr_matrix = field(init=False, repr=False)
    _share: sp.csr_matrix = field(init=False, repr=False)
    _in_cat: np.ndarray = field(init=False, repr=False)
    _members: sp.csr_matrix = field(init=False, repr=False)  # category x item, one-hot
    _overall: np.ndarray = field(init=False, repr=False)

    def fit(self, train: pd.DataFrame, n_users: int, n_items: int) -> None:
        self._x = user_item(train, n_users, n_items)
        pop = np.asarray(self._x.sum(axis=0)).ravel().astype(np.float64)
        cats = self.categories[:n_items]
        best = np.zeros(int(cats.max()) + 1 if len(cats) else 1)
        np.maximum.at(best, cats, pop)
        self._in_cat = pop / np.maximum(best[cats], 1.0)
        self._overall = pop / max(pop.max(initial=0.0), 1.0)
        onehot = sp.csr_matrix(
            (np.ones(n_items), (np.arange(n_items), cats)), shape=(n_items, len(best))
        )
        self._members = onehot.T.tocsr()
        counts = (self._x @ onehot).tocsr()
        totals = np.asarray(counts.sum(axis=1)).ravel()
        self._share = sp.csr_matrix(sp.diags(1.0 / np.maximum(totals, 1.0)) @ counts)

    def _scores(self, users: np.ndarray) -> np.ndarray:
        share = self._share[users].toarray()
        if share.shape[1] > self.top:
            cut = np.partition(share, -self.top, axis=1)[:, -self.top][:, None]
            share[share < cut] = 0.0
        # Category items first (score above 1), then overall popularity (at most 0.1). A
        # user's top categories hold a small part of the catalogue: only their items are
        # written over the overall row (sparse: the share per category times membership).
        scores = np.empty((len(users), len(self._overall)))
        scores[:] = 0.1 * self._overall
        mine = (sp.csr_matrix(share) @ self._members).tocoo()
        _write(scores, mine, 1.0 + mine.data * self._in_cat[mine.col])
        return scores

    def recommend(self, users: np.ndarray, k: int) -> np.ndarray:
        return batched(users, len(self._in_cat), k, self._scores, self._x)


@dataclass
class ItemCosine:
    """Amazon item-to-item: cosine of binary item columns, ``neighbours`` best per item
    (sparse: ``compute.item_knn`` without shrinkage)."""

    neighbours: int = 10
    name: str = "item_cosine"
    _x: sp.csr_matrix = field(init=False, repr=False)
    _sim: sp.csr_matrix = field(init=False, repr=False)

    def fit(self, train: pd.DataFrame, n_users: int, n_items: int) -> None:
        self._x = user_item(train, n_users, n_items)
        self._sim = item_knn.weights(self._x.T @ self._x, self.neighbours, 0.0)

    def recommend(self, users: np.ndarray, k: int) -> np.ndarray:
        n = self._x.shape[1]
        return batched(users, n, k, lambda u: (self._x[u] @ self._sim).toarray(), self._x)


@dataclass
class Ease:
    """EASE (Steck 2019) on the binary matrix, closed form; above ``MAX_DENSE_ITEMS`` items,
    over the most popular ones only (the others are never recommended)."""

    lam: float = 250.0
    name: str = "ease"
    _x: sp.csr_matrix = field(init=False, repr=False)
    _b: np.ndarray = field(init=False, repr=False)
    _cols: np.ndarray = field(init=False, repr=False)

    def fit(self, train: pd.DataFrame, n_users: int, n_items: int) -> None:
        self._x = user_item(train, n_users, n_items)
        pop = np.asarray(self._x.sum(axis=0)).ravel()
        self._cols = np.sort(np.argsort(-pop, kind="stable")[:MAX_DENSE_ITEMS])
        xc = self._x[:, self._cols]
        self._b = ease.weights((xc.T @ xc).toarray(), self.lam)

    def _scores(self, users: np.ndarray) -> np.ndarray:
        out = np.full((len(users), self._x.shape[1]), -np.inf)
        out[:, self._cols] = np.asarray(self._x[users][:, self._cols] @ self._b)
        return out

    def recommend(self, users: np.ndarray, k: int) -> np.ndarray:
        return batched(users, self._x.shape[1], k, self._scores, self._x)


def train_items(train: pd.DataFrame) -> pd.DataFrame:
    """The train rows as the engine's per-user item frame (profiles.user_items)."""
    rows = pd.DataFrame(
        {"uid": train["u"].to_numpy(np.int64), "pcode": train["i"].to_numpy(np.int32),
         "etype": train["etype"].to_numpy(np.int8), "ts": train["ts"].to_numpy(np.int64)}
    )
    return profiles.user_items(rows, int(rows["ts"].max()) if len(rows) else 0)


@dataclass
class EngineRanker:
    """What `profile-engine run` serves: ``compute.ranker`` with the same parameters.

    With a Dask ``client`` it runs as in the job (``profile_engine.ranker_jobs``: per-partition
    Gram shares, one fit on a worker, the model replicated, per-partition scoring); without
    one, the same functions run in this process.
    """

    params: ranker.RankerParams = field(default_factory=ranker.RankerParams)
    client: Any = None
    name: str = "engine"
    categories: np.ndarray | None = None  # category code of each dense train item
    _items: pd.DataFrame = field(init=False, repr=False)
    _model: Any = field(init=False, repr=False)
    _as_of: int = field(init=False, repr=False)
    _parts: Any = field(init=False, repr=False)

    def fit(self, train: pd.DataFrame, n_users: int, n_items: int) -> None:
        self._items = train_items(train)
        self._as_of = int(train["ts"].max())
        if self.client is None:
            self._model = ranker.fit_frame(
                self._items, n_items, self._as_of, self.params, self.categories
            )
        else:
            from profile_engine import ranker_jobs

            self._parts = ranker_jobs.by_user(self._items, self.client)
            # A future: the fitted model stays on the workers (replicated), never comes here.
            self._model = ranker_jobs.fit(
                self.client, self._parts, n_items, self._as_of, self.params, self.categories
            ).model

    @classmethod
    def fitted(
        cls,
        params: ranker.RankerParams,
        name: str,
        categories: np.ndarray | None,
        items: pd.DataFrame,
        model: ranker.RankerModel,
        as_of_ms: int,
    ) -> EngineRanker:
        """One already fitted in this process on ``items`` (``train_items`` of the train
        rows): the tuning's trials share weights between them (``tuning.fit_memo``)."""
        out = cls(params, name=name, categories=categories)
        out._items, out._model, out._as_of = items, model, as_of_ms
        return out

    def recommend(self, users: np.ndarray, k: int) -> np.ndarray:
        if self.client is not None:
            from profile_engine import ranker_jobs

            ranked = ranker_jobs.score_users(
                self.client, self._parts, self._model, self._as_of, k, users
            )
            return as_matrix(ranked, users, k)
        mine = self._items[np.isin(self._items["uid"].to_numpy(), users)]
        ranked = ranker.score(self._model, mine, self._as_of, k, exclude=mine, reasons=False)
        return as_matrix(ranked, users, k)


def as_matrix(ranked: pd.DataFrame, users: np.ndarray, k: int) -> np.ndarray:
    """(uid, pcode) rows in rank order -> (len(users), k) codes, -1 where a list is short."""
    out = np.full((len(users), k), -1, dtype=np.int64)
    pos = ranked.groupby("uid", sort=False).cumcount().to_numpy()
    row = np.searchsorted(users, ranked["uid"].to_numpy())
    ok = (pos < k) & (row < len(users))
    ok[ok] &= users[row[ok]] == ranked["uid"].to_numpy()[ok]
    out[row[ok], pos[ok]] = ranked["pcode"].to_numpy()[ok]
    return out


INF = float("inf")
# Item-to-item neighbours (Amazon's) as the ranker's sparse family with no popularity, decay
# or event weighting: what the job serves when this baseline wins is what was measured.
ITEM_NEIGHBOURS = ranker.RankerParams(
    family="knn",
    knn_neighbours=20,
    knn_shrink=0.0,
    popularity_weight=0.0,
    gram_half_life_days=INF,
    query_half_life_days=INF,
    view_weight=1.0,
    cart_weight=1.0,
)
# The baselines the job can serve instead of its ranker, simplest first.
BASELINES = ("most_popular", "category_popular", "item_neighbours")


def baseline(name: str, categories: np.ndarray) -> Model:
    """One of ``BASELINES`` (``categories``: category code of each dense train item)."""
    if name == "most_popular":
        return MostPopular()
    if name == "category_popular":
        return CategoryPopular(categories)
    if name == "item_neighbours":
        return EngineRanker(ITEM_NEIGHBOURS, name=name, categories=categories)
    raise ValueError(f"unknown baseline {name!r}: one of {BASELINES}")

