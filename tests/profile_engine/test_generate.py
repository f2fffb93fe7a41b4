"""synthetic + `profile-engine generate`: same seed, same bytes; a shop that looks like a shop."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from profile_engine import cli, synthetic


def _generate(tmp: Path, name: str, seed: int, days: int = 4) -> tuple[Path, str]:
    events, url = tmp / name / "events", f"sqlite:///{tmp / name / 'shop.db'}"
    rc = cli.main(
        [
            "generate",
            "--users",
            "120",
            "--products",
            "40",
            "--days",
            str(days),
            "--seed",
            str(seed),
            "--events",
            str(events),
            "--replica-url",
            url,
            "--start-date",
            "2026-09-01",
        ]
    )
    assert rc == 0
    return events, url


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _tables(url: str) -> dict[str, pd.DataFrame]:
    engine = sa.create_engine(url)
    try:
        return {
            t: pd.read_sql_table(t, engine)
            for t in ("customers", "products", "orders", "order_items")
        }
    finally:
        engine.dispose()


def test_same_seed_same_bytes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a_events, a_url = _generate(tmp_path, "a", seed=11)
    b_events, b_url = _generate(tmp_path, "b", seed=11)
    c_events, _ = _generate(tmp_path, "c", seed=12)
    a, b = _files(a_events), _files(b_events)
    assert list(a) == [f"dt=2026-09-0{d}/part-0000.jsonl.gz" for d in range(1, 5)]
    assert a == b
    assert a != _files(c_events)
    for name, frame in _tables(a_url).items():
        pd.testing.assert_frame_equal(frame, _tables(b_url)[name], obj=name)
    assert "events" in capsys.readouterr().out


def test_regenerating_replaces_partitions(tmp_path: Path) -> None:
    events, _ = _generate(tmp_path, "x", seed=1, days=4)
    (events / "README").write_text("not ours")
    _generate(tmp_path, "x", seed=1, days=2)
    assert sorted(p.name for p in events.iterdir()) == ["README", "dt=2026-09-01", "dt=2026-09-02"]


def test_shop_is_realistic() -> None:
    shop = synthetic.generate(users=1500, products=400, days=20, seed=5)
    products, customers, events = shop.products, shop.customers, shop.events
    assert 10 <= products["category"].nunique() <= 20
    assert 0.04 < 1 - products["in_stock"].mean() < 0.13
    by_cat = products.groupby("category")["price"].median()
    assert by_cat["computers"] > 5 * by_cat["books"]  # log-normal around per-category medians
    assert customers["email"].str.fullmatch(r"[a-z.]+\d+@example\.(com|org)").all()
    assert customers["email"].is_unique
    assert 0.6 < customers["marketing_opt_in"].mean() < 0.8
    assert set(events["event_type"]) == {"view", "add_to_cart", "purchase", "search"}
    assert events.loc[events["event_type"] == "search", "query"].notna().all()
    assert events["user_id"].str.startswith("anon-").any()

    # funnels: every purchase was carted in the same session; carts are in stock
    carts = events[events["event_type"] == "add_to_cart"]
    buys = events[events["event_type"] == "purchase"]
    carted = set(zip(carts["session_id"], carts["product_id"], strict=True))
    assert all(k in carted for k in zip(buys["session_id"], buys["product_id"], strict=True))
    stock = products.set_index("product_id")["in_stock"]
    assert stock[carts["product_id"]].all()
    assert not buys["user_id"].str.startswith("anon-").any()

    # purchases are orders too, and the order history reaches back beyond the clickstream
    assert set(shop.orders["status"]) == {"completed", "cancelled"}
    assert 0.03 < (shop.orders["status"] == "cancelled").mean() < 0.12
    assert shop.orders["created_at"].min() < pd.Timestamp(
        synthetic.DEFAULT_START, tz="UTC"
    ) - pd.Timedelta(days=90)
    assert shop.order_items["order_id"].isin(shop.orders["order_id"]).all()

    # strong tastes: a typical visitor's views concentrate on one or two categories
    views = events[events["event_type"] == "view"].merge(
        products[["product_id", "category"]], on="product_id"
    )
    top_share = views.groupby("user_id")["category"].agg(
        lambda c: c.value_counts(normalize=True).iloc[0]
    )
    assert top_share.median() > 0.5
    # and popularity is skewed (Zipf) but no product is in everyone's history
    reach = views.groupby("product_id")["user_id"].nunique() / views["user_id"].nunique()
    assert reach.max() < 0.4 and reach.quantile(0.9) > 3 * reach.median()


def test_event_lines_are_the_contract() -> None:
    shop = synthetic.generate(users=30, products=20, days=1, seed=2)
    [(day, lines)] = list(synthetic.event_lines(shop.events))
    records = [json.loads(x) for x in lines]
    assert day == "2026-10-01"
    assert all(r["ts"].endswith("Z") and r["ts"].startswith(day) for r in records)
    view = next(r for r in records if r["event_type"] == "view")
    assert set(view) == {"ts", "user_id", "session_id", "event_type", "product_id"}
    buy = next((r for r in records if r["event_type"] == "purchase"), None)
    if buy is not None:
        assert {"quantity", "price"} <= set(buy)
    assert np.all(np.diff([pd.Timestamp(r["ts"]).value for r in records]) >= 0)


def test_gzip_header_has_no_name_or_time(tmp_path: Path) -> None:
    events, _ = _generate(tmp_path, "g", seed=3, days=1)
    raw = (events / "dt=2026-09-01/part-0000.jsonl.gz").read_bytes()
    assert raw[4:8] == b"\x00\x00\x00\x00"  # MTIME
    assert gzip.decompress(raw).endswith(b"\n")
