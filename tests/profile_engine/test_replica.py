"""sources/replica.py: partitioned reads of the replica tables, missing columns and tables."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from profile_engine import synthetic
from profile_engine.compute.catalog import Catalog
from profile_engine.sources import replica

# Source functions are plain dask graphs: the synchronous scheduler runs them in-process.
pytestmark = pytest.mark.usefixtures("sync_scheduler")


@pytest.fixture(params=["sqlite", "postgresql"])
def replica_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shop.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture(scope="module")
def small_shop() -> synthetic.Shop:
    return synthetic.generate(users=150, products=60, days=5, seed=3)


def test_partitioned_reads_cover_each_table_once(
    replica_url: str, small_shop: synthetic.Shop
) -> None:
    synthetic.write_tables(small_shop, replica_url)
    customers = replica.read_table(replica_url, "customers", replica.CUSTOMERS, partition_rows=40)
    assert customers.partitions == 4 and customers.rows == 150 and customers.warnings == []
    got = customers.frame.compute()
    assert got["customer_id"].is_unique and len(got) == 150  # string key ranges tile the table
    expected = small_shop.customers.set_index("customer_id")
    row = got.set_index("customer_id").loc["u000042"]
    assert row["email"] == expected.loc["u000042", "email"]
    assert bool(row["marketing_opt_in"]) == bool(expected.loc["u000042", "marketing_opt_in"])

    lines = replica.read_order_lines(replica_url, partition_rows=50)
    assert lines.partitions > 1 and lines.rows == len(small_shop.order_items)
    got_lines = lines.frame.compute()
    assert len(got_lines) == len(small_shop.order_items)
    assert got_lines.dtypes["order_id"] == "int64" and got_lines.dtypes["created_at"] == "int64"
    joined = small_shop.order_items.merge(small_shop.orders, on="order_id")
    first = joined.sort_values("order_item_id").iloc[0]
    match = got_lines[
        (got_lines["order_id"] == first["order_id"])
        & (got_lines["product_id"] == first["product_id"])
    ]
    assert match["customer_id"].tolist() == [first["customer_id"]]
    assert match["created_at"].tolist() == [int(first["created_at"].value // 10**6)]
    assert match["status"].tolist() == [first["status"]]


def test_missing_columns_and_tables_degrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'thin.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE products (product_id TEXT PRIMARY KEY, price REAL)"))
        conn.execute(sa.text("INSERT INTO products VALUES ('A', 1.5), ('B', NULL)"))
        conn.execute(
            sa.text(
                "CREATE TABLE orders (order_id INTEGER PRIMARY KEY, customer_id TEXT, "
                "created_at TEXT, total REAL)"
            )
        )
        conn.execute(sa.text("INSERT INTO orders VALUES (1, 'u1', '2026-09-01 10:00:00', 9.5)"))
    engine.dispose()
    products = replica.read_table(url, "products", replica.PRODUCTS, 1000)
    assert products.warnings == [
        "products.name is missing: using '' for every row",
        "products.category is missing: using '' for every row",
        "products.in_stock is missing: using True for every row",
        "products.image_url is missing: using '' for every row",
        "products.page_url is missing: using '' for every row",
    ]
    frame = products.frame.compute()
    assert frame["in_stock"].tolist() == [True, True] and frame["category"].tolist() == ["", ""]
    assert Catalog.from_frame(frame).categories == ("uncategorized",)

    customers = replica.read_table(url, "customers", replica.CUSTOMERS, 1000)
    assert customers.frame is None and customers.warnings == ["replica has no customers table"]

    orders = replica.read_order_lines(url, 1000)
    assert orders.warnings[0].startswith("replica has no usable order_items table")
    got = orders.frame.compute()
    assert got[["order_id", "customer_id", "status", "total"]].values.tolist() == [
        [1, "u1", "completed", 9.5]
    ]
    assert got["created_at"].tolist() == [int(pd.Timestamp("2026-09-01T10:00:00Z").value // 10**6)]


def test_missing_required_column_skips_table(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bad.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE orders (order_id INTEGER PRIMARY KEY, created_at TEXT)"))
    engine.dispose()
    read = replica.read_order_lines(url, 1000)
    assert read.frame is None
    assert "orders.customer_id is missing: orders cannot be used" in read.warnings
    assert replica.read_order_lines(f"sqlite:///{tmp_path / 'empty.db'}", 1000).warnings == [
        "replica has no orders table: purchases come from events only"
    ]


def test_order_dates_read_to_the_millisecond_far_dates_included(replica_url: str) -> None:
    # 9999-12-31 is many databases' "never": it read as an overflow that failed the run
    engine = sa.create_engine(replica_url)
    stamp = "TIMESTAMP WITH TIME ZONE" if replica_url.startswith("postgresql") else "TEXT"
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS orders"))
        conn.execute(
            sa.text(
                "CREATE TABLE orders (order_id INTEGER PRIMARY KEY, customer_id TEXT, "
                f"created_at {stamp}, total REAL)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO orders VALUES (1, 'u1', '2026-09-01 10:00:00.146+00', 9.5), "
                "(2, 'u2', '9999-12-31 00:00:00+00', 1.0), (3, 'u3', NULL, 2.0)"
            )
        )
    engine.dispose()
    got = replica.read_order_lines(replica_url, 1000).frame.compute().sort_values("order_id")
    assert got["created_at"].tolist() == [
        1_788_256_800_146,  # not ...145: no double of nanoseconds on the way
        253_402_214_400_000,
        -1,  # missing: the column default
    ]
