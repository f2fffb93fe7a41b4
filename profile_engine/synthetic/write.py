"""Write a synthetic shop: events as Hive-partitioned gzip JSON Lines, tables through SQLAlchemy.

Byte-for-byte reproducible: events are written in time order with a fixed JSON layout and
gzip headers without file name or modification time.
"""

from __future__ import annotations

import gzip
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from profile_engine.synthetic.shop import Shop

EVENTS_PER_PART = 200_000  # lines per event file (a day is split beyond this)

_DT_DIR = re.compile(r"(^|/)dt=\d{4}-\d{2}-\d{2}$")


def event_lines(events: pd.DataFrame) -> Iterator[tuple[str, list[str]]]:
    """(day, JSON lines) per UTC day, events in time order; optional fields only when set."""
    ts = pd.to_datetime(events["ts"].to_numpy(), unit="ms", utc=True)
    iso = ts.strftime("%Y-%m-%dT%H:%M:%S.") + (events["ts"] % 1000).map("{:03d}Z".format).to_numpy()
    day = ts.strftime("%Y-%m-%d")
    columns = [
        events[c].to_numpy(dtype=object)
        for c in ("user_id", "session_id", "event_type", "product_id", "quantity", "price", "query")
    ]
    lines_by_day: dict[str, list[str]] = {}
    for d, t, u, s, e, p, q, pr, qu in zip(day, iso, *columns, strict=True):
        rec: dict[str, Any] = {"ts": t, "user_id": u, "session_id": s, "event_type": e}
        if p is not None:
            rec["product_id"] = p
        if q == q:  # not NaN
            rec["quantity"] = int(q)
        if pr == pr:
            rec["price"] = float(pr)
        if qu is not None:
            rec["query"] = qu
        lines_by_day.setdefault(d, []).append(json.dumps(rec, separators=(",", ":")))
    yield from sorted(lines_by_day.items())


def write_events(events: pd.DataFrame, root: str, storage_options: dict[str, Any]) -> int:
    """Replace the dt= partitions under ``root`` with gzip JSON Lines; returns files written."""
    fs, path = fsspec.core.url_to_fs(root, **storage_options)
    if fs.exists(path):
        for entry in fs.ls(path, detail=False):
            if _DT_DIR.search(entry.rstrip("/")):
                fs.rm(entry, recursive=True)
    written = 0
    for day, lines in event_lines(events):
        for part, lo in enumerate(range(0, len(lines), EVENTS_PER_PART)):
            buf = io.BytesIO()
            # mtime=0 and no file name in the header: same seed, same bytes.
            with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=6) as gz:
                gz.write(("\n".join(lines[lo : lo + EVENTS_PER_PART]) + "\n").encode())
            target = f"{path.rstrip('/')}/dt={day}/part-{part:04d}.jsonl.gz"
            fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
            with fs.open(target, "wb") as f:
                f.write(buf.getvalue())
            written += 1
    return written


METADATA = sa.MetaData()
TABLES = {
    "customers": sa.Table(
        "customers",
        METADATA,
        sa.Column("customer_id", sa.String(32), primary_key=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("first_name", sa.String(64)),
        sa.Column("country", sa.String(2)),
        sa.Column("created_at", sa.DateTime(timezone=True)),
        sa.Column("marketing_opt_in", sa.Boolean, nullable=False),
    ),
    "products": sa.Table(
        "products",
        METADATA,
        sa.Column("product_id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("category", sa.String(64)),
        sa.Column("price", sa.Float),
        sa.Column("in_stock", sa.Boolean, nullable=False),
        sa.Column("image_url", sa.String(300)),
        sa.Column("page_url", sa.String(300)),
    ),
    "orders": sa.Table(
        "orders",
        METADATA,
        sa.Column("order_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("customer_id", sa.String(32), nullable=False, index=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("total", sa.Float),
    ),
    "order_items": sa.Table(
        "order_items",
        METADATA,
        sa.Column("order_item_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("order_id", sa.BigInteger, nullable=False, index=True),
        sa.Column("product_id", sa.String(32), nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("unit_price", sa.Float, nullable=False),
    ),
}


def write_tables(shop: Shop, url: str, chunk: int = 5_000) -> dict[str, int]:
    """(Re)create the four replica tables at ``url`` and fill them; returns rows per table."""
    frames = {
        "customers": shop.customers,
        "products": shop.products.drop(columns=["cat_idx"]),
        "orders": shop.orders,
        "order_items": shop.order_items,
    }
    return write_frames(frames, url, chunk)


def write_frames(frames: dict[str, pd.DataFrame], url: str, chunk: int = 5_000) -> dict[str, int]:
    """(Re)create the four replica tables at ``url`` and fill those given in ``frames`` (the
    others stay empty); returns rows per table. Used by the generator and the importers."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url)
    counts: dict[str, int] = {}
    try:
        with engine.begin() as conn:
            METADATA.drop_all(conn)
            METADATA.create_all(conn)
            for name, frame in frames.items():
                records = _records(frame)
                for lo in range(0, len(records), chunk):
                    conn.execute(TABLES[name].insert(), records[lo : lo + chunk])
                counts[name] = len(records)
    finally:
        engine.dispose()
    return counts


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = frame.astype(object).where(frame.notna(), None)
    for col in frame.columns:
        if isinstance(frame[col].dtype, pd.DatetimeTZDtype):
            out[col] = [t.to_pydatetime() for t in frame[col]]
    records: list[dict[str, Any]] = out.to_dict("records")
    return records
