"""The synthetic shop every engine reads: gzip JSON Lines events and a SQLite replica."""

from __future__ import annotations

import math
import sqlite3
import time
from pathlib import Path
from typing import Any

import pandas as pd

from profile_engine import synthetic

EVENTS_PER_USER_30D = 50  # what the generator gives per user over 30 days (measured)
DAYS = 30


def shop_size(target_events: int) -> tuple[int, int]:
    """Customers and products of a shop with about ``target_events`` events."""
    users = max(100, math.ceil(target_events / EVENTS_PER_USER_30D))
    return users, max(500, users // 20)


def generate(
    root: Path, target_events: int, seed: int, products: int | None = None
) -> dict[str, Any]:
    """Events under root/events (gzip JSON Lines, dt= partitions), replica at root/shop.db;
    ``products`` fixes the catalogue size (default: it grows with the customers)."""
    users, scaled = shop_size(target_events)
    products = products or scaled
    started = time.perf_counter()
    shop = synthetic.generate(users, products, DAYS, seed)
    files = synthetic.write_events(shop.events, str(root / "events"), {})
    replica = f"sqlite:///{root / 'shop.db'}"
    # Orders left empty: the job would otherwise replace purchase events by order lines.
    synthetic.write_frames(
        {"customers": shop.customers, "products": shop.products.drop(columns=["cat_idx"])},
        replica,
    )
    return {
        "events": len(shop.events),
        "users": users,
        "products": products,
        "files": files,
        "replica": replica,
        "seconds": time.perf_counter() - started,
    }


def products_frame(root: Path) -> pd.DataFrame:
    """The catalogue (id, category, in stock) PySpark and DuckDB join the events with."""
    with sqlite3.connect(root / "shop.db") as conn:
        df = pd.read_sql("select product_id, category, in_stock from products", conn)
    df["in_stock"] = df["in_stock"].astype(bool)
    return df
