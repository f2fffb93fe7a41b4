"""Taobao UserBehavior rows -> a real clickstream in the event-log format, plus products.

``pv`` -> view, ``cart`` -> add_to_cart, ``buy`` -> purchase; ``fav`` (favourite) has no
engine type and is written as ``favourite`` so the reader counts it as an unknown type.
The source has no sessions: a gap of more than ``SESSION_GAP_MS`` starts a new one. Products
get their Taobao category id; there are no customers or orders (clickstream only).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from profile_engine.importers.online_retail import Imported
from profile_engine.synthetic.write import write_events, write_frames

COLUMNS = ["user_id", "item_id", "category_id", "behavior_type", "timestamp"]
EVENT_TYPES = {"pv": "view", "cart": "add_to_cart", "buy": "purchase", "fav": "favourite"}
SESSION_GAP_MS = 30 * 60 * 1000


def to_engine(df: pd.DataFrame) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    df = df.sort_values(["user_id", "timestamp"], kind="stable")
    ts = df["timestamp"].to_numpy(dtype=np.int64) * 1000
    user = df["user_id"].to_numpy()
    new = np.r_[True, (user[1:] != user[:-1]) | (np.diff(ts) > SESSION_GAP_MS)]
    session = np.cumsum(new)
    events = pd.DataFrame(
        {
            "ts": ts,
            "user_id": df["user_id"].astype(str).to_numpy(),
            "session_id": [f"s{n}" for n in session],
            "event_type": df["behavior_type"].map(EVENT_TYPES).fillna("unknown").to_numpy(),
            "product_id": df["item_id"].astype(str).to_numpy(),
            "quantity": np.where(df["behavior_type"] == "buy", 1.0, np.nan),
            "price": np.nan,
            "query": None,
        }
    ).sort_values("ts", kind="stable")
    products = (
        df.drop_duplicates("item_id")[["item_id", "category_id"]]
        .rename(columns={"item_id": "product_id"})
        .assign(
            product_id=lambda f: f["product_id"].astype(str),
            name=lambda f: "item " + f["product_id"],
            category=lambda f: "cat-" + f["category_id"].astype(str),
            price=np.nan,
            in_stock=True,
        )
        .drop(columns=["category_id"])
        .sort_values("product_id")
    )
    return {"products": products}, events


def import_taobao(
    path: str, events_root: str, replica_url: str, storage_options: dict[str, Any] | None = None
) -> Imported:
    frames, events = to_engine(pd.read_csv(path, header=None, names=COLUMNS))
    tables = write_frames(frames, replica_url)
    files = write_events(events, events_root, storage_options or {})
    return Imported(tables, len(events), files)
