"""The datasets as the engine's inputs, cut in time: train = before the 80% quantile of
interaction times (EVALUATION.md's cut), test = the sessions at or after it.

Online Retail: the project's importer (profile_engine.importers.online_retail, what
`profile-engine import-online-retail` runs); a test session is one invoice, its lines in
file order. Taobao: the project's importer too; sessions are its 30-minute-gap sessions
(their part after the cut); `favourite` events have no Track type and are left out.
Known shoppers: sessions of users with interactions before the cut.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ONLINE_RETAIL = Path("/work/shared/data/online-retail/online_retail.csv.gz")
TAOBAO = Path("/work/shared/data/taobao-userbehavior-sample/UserBehavior.csv")
TRACKED = ("view", "add_to_cart", "purchase")
TRAIN_SHARE = 0.8


@dataclass(frozen=True)
class Session:
    """One test session: its events (type, product, epoch ms) in order; ``rebuys``: for
    each, whether the user bought that product before the cut."""

    session_id: str
    user_id: str
    events: tuple[tuple[str, str, int], ...]
    rebuys: tuple[bool, ...]

    @property
    def start(self) -> int:
        return self.events[0][2]


@dataclass(frozen=True)
class Split:
    name: str
    cut_ms: int  # train: ts < cut_ms
    train_events: int
    test_events: int
    sessions: list[Session]  # test sessions of known shoppers, by start time
    skipped_new_users: int  # test sessions of users the train part never saw
    train_purchases: dict[str, set[str]]  # user -> products bought before the cut


def _engine_frames(name: str) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    if name == "online_retail":
        from profile_engine.importers import online_retail

        return online_retail.to_engine(online_retail.read(str(ONLINE_RETAIL)))
    from profile_engine.importers import taobao

    return taobao.to_engine(pd.read_csv(TAOBAO, header=None, names=taobao.COLUMNS))


def write_inputs(name: str, events_dir: Path, replica_url: str) -> Split:
    """Import ``name`` into an event root and a replica (all of it: the job is told the
    as-of) and cut its test sessions."""
    from profile_engine.synthetic.write import write_events, write_frames

    frames, events = _engine_frames(name)
    write_frames(frames, replica_url)
    write_events(events, str(events_dir), {})
    return split(name, events)


def split(name: str, events: pd.DataFrame) -> Split:
    events = events[events["event_type"].isin(TRACKED)]
    ts = events["ts"].to_numpy(dtype=np.int64)
    cut = int(np.quantile(ts, TRAIN_SHARE))
    train, test = events[ts < cut], events[ts >= cut]
    seen = set(train["user_id"])
    bought = {str(u): set(map(str, p)) for u, p in
              train[train["event_type"] == "purchase"].groupby("user_id")["product_id"]}
    sessions, new_users = [], 0
    # groupby(sort=False) keeps each session's rows in file order.
    for sid, rows in test.groupby("session_id", sort=False):
        user = str(rows["user_id"].iloc[0])
        if user not in seen:
            new_users += 1
            continue
        products = rows["product_id"].astype(str).tolist()
        before = bought.get(user, set())
        sessions.append(Session(str(sid), user, tuple(zip(
            rows["event_type"].astype(str), products,
            rows["ts"].astype("int64").tolist(), strict=True)),
            tuple(p in before for p in products)))
    sessions.sort(key=lambda s: (s.start, s.session_id))
    return Split(name, cut, len(train), len(test), sessions, new_users, bought)


def sample(sessions: list[Session], limit: int | None, seed: int) -> list[Session]:
    """``limit`` sessions drawn at random (kept in time order), or all."""
    if limit is None or limit >= len(sessions):
        return sessions
    keep = set(random.Random(seed).sample(range(len(sessions)), limit))
    return [s for n, s in enumerate(sessions) if n in keep]
