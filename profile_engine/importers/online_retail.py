"""UCI Online Retail (invoice lines) -> replica tables and purchase events.

Mapping (../shared/data/online-retail/README.md): customers = distinct CustomerID with
Country; orders = invoices (``C`` prefix: status cancelled); order_items = invoice lines;
products = real stock codes with their most frequent description and median price; one
``purchase`` event per kept line. Lines without a customer (guest orders) and non-positive
quantities or prices outside cancellations (stock adjustments, bad-debt write-offs) are left
out; non-product codes (postage, manual, bank charges, ...) stay on their orders, so RFM
sees the money, but are not products. The source has no categories: each product gets the
head noun of its description (the last word: "WHITE METAL LANTERN" -> "lantern"), and
nouns shared by fewer than ``MIN_CATEGORY_PRODUCTS`` products fall into "other".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from profile_engine.synthetic.write import write_events, write_frames

# Stock codes of real products: five digits and an optional letter suffix (variants).
PRODUCT_CODE = r"^\d{5}[A-Za-z]*$"
MIN_CATEGORY_PRODUCTS = 5
OTHER = "other"
_WORD = re.compile(r"[A-Za-z]+")


@dataclass(frozen=True)
class Imported:
    tables: dict[str, int]
    events: int
    event_files: int


def read(path: str) -> pd.DataFrame:
    return pd.read_csv(
        path,
        dtype={"InvoiceNo": str, "StockCode": str, "CustomerID": "Int64", "Description": str},
        parse_dates=["InvoiceDate"],
    )


def head_noun(description: str) -> str:
    words = _WORD.findall(description or "")
    if not words:
        return OTHER
    word = str(words[-1]).lower()
    # Plurals join their singular: "lights" and "light" are one shelf.
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def categories(names: pd.Series) -> pd.Series:
    """Category per product from its description; rare head nouns merged into "other"."""
    noun = names.fillna("").map(head_noun)
    sizes = noun.map(noun.value_counts())
    return noun.where(sizes >= MIN_CATEGORY_PRODUCTS, OTHER)


def to_engine(df: pd.DataFrame) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """(replica frames, events frame) from the raw invoice lines."""
    df = df[df["CustomerID"].notna()].copy()
    df["order_id"] = df["InvoiceNo"].str.lstrip("Cc").astype(np.int64)
    cancelled = df["InvoiceNo"].str.upper().str.startswith("C")
    df = df[(cancelled | ((df["Quantity"] > 0) & (df["UnitPrice"] > 0))).to_numpy()]
    cancelled = df["InvoiceNo"].str.upper().str.startswith("C").to_numpy()
    # Some invoice numbers exist as both a sale and its cancellation: keep ids unique.
    df.loc[cancelled, "order_id"] += 10_000_000
    df["customer_id"] = df["CustomerID"].astype("int64").astype(str)
    created = pd.to_datetime(df["InvoiceDate"]).dt.tz_localize("UTC")
    df["created_at"] = created
    real = df["StockCode"].str.match(PRODUCT_CODE).to_numpy(dtype=bool)

    sold = df[real & ~cancelled]
    desc = (
        sold.dropna(subset=["Description"])
        .groupby("StockCode")["Description"]
        .agg(lambda s: s.value_counts().index[0])
    )
    products = pd.DataFrame({"product_id": sorted(sold["StockCode"].unique())})
    products["name"] = products["product_id"].map(desc).fillna(products["product_id"]).str.strip()
    products["category"] = categories(products["name"]).to_numpy()
    products["price"] = products["product_id"].map(sold.groupby("StockCode")["UnitPrice"].median())
    products["in_stock"] = True

    customers = (
        df.sort_values("created_at")
        .groupby("customer_id", sort=True)
        .agg(country=("Country", "last"), created_at=("created_at", "min"))
        .reset_index()
    )
    customers["email"] = ""
    customers["first_name"] = ""
    customers["marketing_opt_in"] = False
    # The replica holds ISO-3166 alpha-2 codes; the source has English names: left unknown.
    customers["country"] = ""

    line_total = df["Quantity"] * df["UnitPrice"]
    orders = (
        df.assign(total=line_total, status=np.where(cancelled, "cancelled", "completed"))
        .groupby("order_id", sort=True)
        .agg(
            customer_id=("customer_id", "first"),
            created_at=("created_at", "min"),
            status=("status", "first"),
            total=("total", "sum"),
        )
        .reset_index()
    )
    orders["total"] = orders["total"].round(2)
    items = pd.DataFrame(
        {
            "order_item_id": np.arange(1, len(df) + 1, dtype=np.int64),
            "order_id": df["order_id"].to_numpy(),
            "product_id": df["StockCode"].to_numpy(),
            "quantity": df["Quantity"].to_numpy(),
            "unit_price": df["UnitPrice"].to_numpy(),
        }
    )
    kept = df[real & ~cancelled]
    events = pd.DataFrame(
        {
            "ts": kept["created_at"].dt.as_unit("ms").astype("int64").to_numpy(),
            "user_id": kept["customer_id"].to_numpy(),
            "session_id": kept["InvoiceNo"].to_numpy(),
            "event_type": "purchase",
            "product_id": kept["StockCode"].to_numpy(),
            "quantity": kept["Quantity"].to_numpy(dtype=np.float64),
            "price": kept["UnitPrice"].to_numpy(dtype=np.float64),
            "query": None,
        }
    ).sort_values("ts", kind="stable")
    frames = {"customers": customers, "products": products, "orders": orders, "order_items": items}
    return frames, events


def import_online_retail(
    path: str, events_root: str, replica_url: str, storage_options: dict[str, Any] | None = None
) -> Imported:
    frames, events = to_engine(read(path))
    tables = write_frames(frames, replica_url)
    files = write_events(events, events_root, storage_options or {})
    return Imported(tables, len(events), files)
