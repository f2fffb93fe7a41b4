"""The models an evaluation compares: baselines (most popular, item-item cosine, EASE) and
the engine's served ranker, behind one small interface (fit on train, top-k for users)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd
import scipy.sparse as sp

from profile_engine.compute import profiles, ranker


def user_item(train: pd.DataFrame, n_users: int, n_items: int) -> sp.csr_matrix:
    """Binary user x item matrix of the train interactions."""
    m = sp.csr_matrix(
        (np.ones(len(train), dtype=np.float32), (train["u"].to_numpy(), train["i"].to_numpy())),
        shape=(n_users, n_items),
    )
    m.data[:] = 1.0
    return m


def top_k(scores: np.ndarray, seen: sp.csr_matrix, k: int) -> np.ndarray:
    """Best ``k`` item codes per row, the user's train items excluded."""
    scores = np.array(scores, dtype=np.float64, copy=True)
    rows, cols = seen.nonzero()
    scores[rows, cols] = -np.inf
    part = np.argpartition(-scores, kth=min(k, scores.shape[1] - 1), axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


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
        return top_k(np.tile(self._pop, (len(users), 1)), self._x[users], k)


@dataclass
class ItemCosine:
    """Amazon item-to-item: cosine of binary item columns, ``neighbours`` best per item."""

    neighbours: int = 10
    name: str = "item_cosine"
    _x: sp.csr_matrix = field(init=False, repr=False)
    _sim: sp.csr_matrix = field(init=False, repr=False)

    def fit(self, train: pd.DataFrame, n_users: int, n_items: int) -> None:
        self._x = user_item(train, n_users, n_items)
        gram = (self._x.T @ self._x).toarray().astype(np.float64)
        norms = np.sqrt(np.maximum(np.diag(gram), 1e-12))
        sim = gram / norms[:, None] / norms[None, :]
        np.fill_diagonal(sim, 0.0)
        k = min(self.neighbours, n_items - 1)
        keep = np.argpartition(-sim, kth=k, axis=1)[:, :k]
        rows = np.repeat(np.arange(n_items), k)
        self._sim = sp.csr_matrix(
            (np.take_along_axis(sim, keep, axis=1).ravel(), (rows, keep.ravel())),
            shape=(n_items, n_items),
        )

    def recommend(self, users: np.ndarray, k: int) -> np.ndarray:
        x = self._x[users]
        return top_k((x @ self._sim).toarray(), x, k)


@dataclass
class Ease:
    """EASE (Steck 2019) on the binary matrix, closed form."""

    lam: float = 250.0
    name: str = "ease"
    _x: sp.csr_matrix = field(init=False, repr=False)
    _b: np.ndarray = field(init=False, repr=False)

    def fit(self, train: pd.DataFrame, n_users: int, n_items: int) -> None:
        self._x = user_item(train, n_users, n_items)
        self._b = ranker.ease_weights((self._x.T @ self._x).toarray(), self.lam)

    def recommend(self, users: np.ndarray, k: int) -> np.ndarray:
        x = self._x[users]
        return top_k(np.asarray(x @ self._b), x, k)


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
    _items: pd.DataFrame = field(init=False, repr=False)
    _model: Any = field(init=False, repr=False)
    _as_of: int = field(init=False, repr=False)
    _parts: Any = field(init=False, repr=False)

    def fit(self, train: pd.DataFrame, n_users: int, n_items: int) -> None:
        self._items = train_items(train)
        self._as_of = int(train["ts"].max())
        if self.client is None:
            self._model = ranker.fit_frame(self._items, n_items, self._as_of, self.params)
        else:
            from profile_engine import ranker_jobs

            self._parts = ranker_jobs.by_user(self._items, self.client)
            # A future: the fitted model stays on the workers (replicated), never comes here.
            self._model = ranker_jobs.fit(
                self.client, self._parts, n_items, self._as_of, self.params
            )

    def recommend(self, users: np.ndarray, k: int) -> np.ndarray:
        if self.client is not None:
            from profile_engine import ranker_jobs

            ranked = ranker_jobs.score_users(
                self.client, self._parts, self._model, self._as_of, k, users
            )
            return as_matrix(ranked, users, k)
        mine = self._items[np.isin(self._items["uid"].to_numpy(), users)]
        ranked = ranker.score(self._model, mine, self._as_of, k, exclude=mine)
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
