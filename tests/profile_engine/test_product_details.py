"""The job publishes every product's name, price and URLs from the replica for campaign
exports (generation/details.py), and `export-segment` of the generation it served gives
each member products with those details."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from generation import details, layout, payloads
from profile_engine import cli, pipeline, synthetic
from profile_engine.settings import EngineSettings
from tests.profile_engine.published_items import generation_items

pytestmark = pytest.mark.timeout(300)


def test_details_are_published_and_exported(
    tmp_path: Path, scheduler_address: str, moto_endpoint: str, moto_table: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    shop = synthetic.generate(users=150, products=30, days=10, seed=2)
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    synthetic.write_tables(shop, url)
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # a product the catalogue knows less about
        conn.execute(sa.text("UPDATE products SET price = NULL, image_url = NULL "
                             "WHERE product_id = 'p00003'"))
    products = pd.read_sql_table("products", engine).set_index("product_id")
    engine.dispose()
    synthetic.write_events(shop.events, str(tmp_path / "events"), {})
    report = pipeline.run(EngineSettings(
        events=str(tmp_path / "events"), replica_url=url, scheduler=scheduler_address,
        table=moto_table, dynamodb_endpoint_url=moto_endpoint, tuning=False,
        quality_gate=False))
    gen = report.generation or ""

    items = generation_items(moto_endpoint, moto_table, gen)
    [manifest] = [payloads.decode_manifest(layout.payload(i)) for i in items
                  if i["sk"]["S"] == "manifest"]
    buckets = [i for i in items if i["pk"]["S"] == details.details_pk(gen)]
    assert len(buckets) == manifest.counts[details.DETAILS_BUCKETS] == report.published["details"]
    published = {p: d for i in buckets for p, d in details.decode_bucket(layout.payload(i)).items()}
    assert set(published) == set(products.index)
    for pid, d in published.items():
        row = products.loc[pid]
        price = None if pd.isna(row["price"]) else float(row["price"])
        image = "" if pd.isna(row["image_url"]) else row["image_url"]
        assert (d.name, d.page_url, d.image_url) == (row["name"], row["page_url"], image), pid
        assert d.price == price or (d.price is None and price is None), pid
    assert published["p00003"].price is None and published["p00003"].image_url == ""

    code = cli.main(["export-segment", "high_value", "--format", "pinpoint-jsonl", "--to",
                     str(tmp_path / "out"), "--table", moto_table,
                     "--dynamodb-endpoint-url", moto_endpoint])
    assert code == 0, capsys.readouterr().err
    lines = (tmp_path / "out" / "high_value" / gen / "pinpoint-jsonl.jsonl").read_text()
    records = [json.loads(line) for line in lines.splitlines()]
    assert records
    for r in records:
        attrs = {k: v[0] for k, v in r["User"]["UserAttributes"].items()}
        ids = [attrs[f"Rec{i}Id"] for i in range(1, 5)]
        assert all(ids) and len(set(ids)) == 4
        for i, pid in enumerate(ids, start=1):
            row = products.loc[pid]
            assert bool(row["in_stock"])
            assert attrs[f"Rec{i}Name"] == row["name"]
            assert attrs[f"Rec{i}Url"] == row["page_url"]
            price = row["price"]
            assert attrs[f"Rec{i}Price"] == ("" if math.isnan(price) else f"{price:.2f}")
