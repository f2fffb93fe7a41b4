"""End to end: generate into S3 (moto) + PostgreSQL, run on a LocalCluster and on real
`dask scheduler`/`dask worker` processes, publish into DynamoDB (moto), read back with the
schema decoders the service uses. Plus the input-contract variants and failure exits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from generation import Profile, layout, payloads
from loopback.dask_cluster import dask_cluster
from profile_engine import cli, pipeline, synthetic
from profile_engine.settings import EngineSettings
from tests.conftest import dynamodb_client
from tests.profile_engine.published_items import generation_items


def _pointer(endpoint: str, table: str) -> str | None:
    item = dynamodb_client(endpoint).get_item(TableName=table, Key=layout.pointer_key()).get("Item")
    return layout.decode_pointer(item).generation if item else None


def _run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = cli.main(args)
    out = capsys.readouterr()
    return rc, out.out, out.err


def _catalogue(url: str) -> pd.DataFrame:
    engine = sa.create_engine(url)
    try:
        return pd.read_sql_table("products", engine).set_index("product_id")
    finally:
        engine.dispose()


def test_generate_run_publish_end_to_end(
    moto_endpoint: str,
    s3_bucket: str,
    pg_url: str,
    moto_table: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The ranker's path end to end, reasons included: on a shop of 300 customers the model
    # choice may rightly keep a baseline (tests/profile_engine/test_model_choice.py).
    monkeypatch.setenv("PROFILE_ENGINE_TUNING", "false")
    events = f"s3://{s3_bucket}/events"
    common = ["--events", events, "--replica-url", pg_url, "--s3-endpoint-url", moto_endpoint]
    rc, out, err = _run_cli(
        ["generate", "--users", "300", "--products", "80", "--days", "14", "--seed", "4", *common],
        capsys,
    )
    assert rc == 0, err

    # 1. LocalCluster (the default: no scheduler given)
    run = [
        "run",
        *common,
        "--table",
        moto_table,
        "--dynamodb-endpoint-url",
        moto_endpoint,
        "--workers",
        "2",
    ]
    rc, out, err = _run_cli(run, capsys)
    assert rc == 0, err
    first = out.split("published generation ")[1].split()[0]
    assert _pointer(moto_endpoint, moto_table) == first
    for stage in ("read events", "shuffle by user", "neighbours", "publish"):
        assert stage in out
    assert "model       ranker at its configured settings: tuning is off" in out
    assert "bad lines   0" in out

    items = generation_items(moto_endpoint, moto_table, first)
    by_sk: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        by_sk.setdefault(item["sk"]["S"].split("#")[0], []).append(item)
    [manifest_item] = by_sk["manifest"]
    manifest = payloads.decode_manifest(layout.payload(manifest_item))
    profiles = [payloads.decode_profile(layout.payload(i)) for i in by_sk["profile"]]
    assert manifest.counts["users"] == len(profiles) > 300  # customers plus anonymous visitors
    assert manifest.counts["input_event_lines"] > 0 and len(manifest.categories) >= 10

    catalogue = _catalogue(pg_url)
    out_of_stock = set(catalogue.index[~catalogue["in_stock"].astype(bool)])
    assert out_of_stock
    with_recs = [p for p in profiles if p.recommendations]
    assert len(with_recs) == len(profiles)
    for p in profiles:
        recs = [i.product_id for i in p.recommendations]
        assert len(recs) == len(set(recs)) <= 50
        assert not set(recs) & set(p.purchased), p.user_id
        assert not set(recs) & out_of_stock, p.user_id
        assert all(i.reason for i in p.recommendations)
    buyers = [p for p in profiles if p.purchased]
    assert buyers and all(p.rfm["frequency"] >= 1 for p in buyers)

    # personalised: a customer with a strong taste does not get the global list
    overall = next(
        payloads.decode_popular(layout.payload(i)) for i in by_sk["cat"] if i["sk"]["S"] == "cat#"
    )
    top = [i.product_id for i in overall.items[:10]]
    strong: Profile = max(buyers, key=lambda p: max(p.category_affinity.values(), default=0))
    assert [i.product_id for i in strong.recommendations[:10]] != top
    assert any(i.reason.startswith("because you") for i in strong.recommendations)

    neighbours = [payloads.decode_neighbours(layout.payload(i)) for i in by_sk["neighbours"]]
    assert neighbours and all(
        not set(i.product_id for i in n.items) & out_of_stock for n in neighbours
    )

    sizes = {s.name: s.size for s in manifest.segments}
    for name in ("high_value", "lapsed", "cart_abandoners"):
        assert sizes[name] > 0, name
    assert any(n.startswith("affinity:") for n in sizes)
    members = [
        payloads.decode_segment_member(layout.payload(i))
        for i in by_sk["user"]
        if i["pk"]["S"] == layout.segment_pk(first, "high_value")
    ]
    assert len(members) == sizes["high_value"]
    registered = [m for m in members if m.email]
    assert registered and all(
        m.email.endswith(("@example.com", "@example.org")) for m in registered
    )
    assert set(registered[0].attributes) == {
        "first_name",
        "country",
        "recency_days",
        "frequency",
        "monetary",
        "top_category",
    }

    # 2. the same job on a real `dask scheduler` + `dask worker` processes: a new generation
    with dask_cluster(n_workers=2, memory_limit="1GiB") as address:
        rc, out, err = _run_cli([*run, "--scheduler", address], capsys)
    assert rc == 0, err
    second = out.split("published generation ")[1].split()[0]
    assert second != first and f"(was {first})" in out
    assert _pointer(moto_endpoint, moto_table) == second
    second_manifest = payloads.decode_manifest(layout.payload(
        dynamodb_client(moto_endpoint).get_item(
            TableName=moto_table, Key=layout.manifest_key(second)
        )["Item"]
    ))
    assert second_manifest.counts["users"] == manifest.counts["users"]
    assert {s.name: s.size for s in second_manifest.segments} == sizes


def test_failed_run_flips_nothing(
    moto_endpoint: str,
    moto_table: str,
    scheduler_address: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    shop = synthetic.generate(users=50, products=20, days=2, seed=1)
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    synthetic.write_tables(shop, url)
    rc, out, err = _run_cli(
        [
            "run",
            "--events",
            str(tmp_path / "missing"),
            "--replica-url",
            url,
            "--scheduler",
            scheduler_address,
            "--table",
            moto_table,
            "--dynamodb-endpoint-url",
            moto_endpoint,
        ],
        capsys,
    )
    assert rc == 1
    assert "does not exist" in err and "not changed" in err
    assert _pointer(moto_endpoint, moto_table) is None


def test_settings_errors_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PROFILE_ENGINE_TTL_DAYS", "-3")
    rc, _, err = _run_cli(["run"], capsys)
    assert rc == 2 and "PROFILE_ENGINE_TTL_DAYS='-3'" in err
    monkeypatch.delenv("PROFILE_ENGINE_TTL_DAYS")
    rc, _, err = _run_cli(["run", "--workers", "0"], capsys)
    assert rc == 2 and "PROFILE_ENGINE_WORKERS (--workers)=0" in err
    rc, _, err = _run_cli(["run", "--as-of", "last tuesday"], capsys)
    assert rc == 2 and "PROFILE_ENGINE_AS_OF (--as-of)='last tuesday'" in err


def test_python_dash_m_entry_point(repo_root: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "profile_engine", "run"],
        env={**os.environ, "PROFILE_ENGINE_TABLE": "x"},
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "PROFILE_ENGINE_TABLE='x'" in proc.stderr


# -- input contract variants: degrade and report, never crash ------------------------------


def _variant_settings(
    tmp_path: Path, url: str, scheduler: str, endpoint: str, table: str
) -> EngineSettings:
    return EngineSettings(
        events=str(tmp_path / "events"),
        replica_url=url,
        scheduler=scheduler,
        table=table,
        dynamodb_endpoint_url=endpoint,
    )


def _write_required_only(shop: synthetic.Shop, root: Path, drop_purchases: bool) -> None:
    """Events with only ts, user_id, event_type, product_id (one plain file per day), plus junk."""
    ev = shop.events[["ts", "user_id", "event_type", "product_id"]]
    if drop_purchases:
        ev = ev[ev["event_type"] != "purchase"]
    for day, group in ev.groupby(
        pd.to_datetime(ev["ts"], unit="ms", utc=True).dt.strftime("%Y-%m-%d")
    ):
        path = root / f"dt={day}" / "part-0000.jsonl"
        path.parent.mkdir(parents=True)
        lines = [
            json.dumps({k: v for k, v in r.items() if v is not None and v == v})
            for r in group.to_dict("records")
        ]
        path.write_text(
            "\n".join([*lines, "{broken", json.dumps({"user_id": "x", "event_type": "view"})])
            + "\n"
        )


def test_required_fields_only_purchases_from_orders_and_empty_categories(
    tmp_path: Path, scheduler_address: str, moto_endpoint: str, moto_table: str
) -> None:
    shop = synthetic.generate(users=120, products=40, days=6, seed=8)
    shop.products.loc[shop.products.index[:10], "category"] = ""
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    synthetic.write_tables(shop, url)
    _write_required_only(shop, tmp_path / "events", drop_purchases=True)

    report = pipeline.run(
        _variant_settings(tmp_path, url, scheduler_address, moto_endpoint, moto_table)
    )
    assert report.generation and _pointer(moto_endpoint, moto_table) == report.generation
    assert "no purchase events: purchases come from the orders table only" in report.warnings
    assert "10 products without a category: 'uncategorized'" in report.warnings
    assert report.bad_lines["malformed_json"] == report.inputs["event_files"]
    assert "purchase" not in report.events_by_type

    profiles = {
        p.user_id: p
        for p in (
            payloads.decode_profile(layout.payload(i))
            for i in generation_items(moto_endpoint, moto_table, report.generation)
            if i["sk"]["S"] == "profile"
        )
    }
    completed = shop.orders[shop.orders["status"] == "completed"]
    bought = (
        shop.order_items.merge(completed, on="order_id")
        .groupby("customer_id")["product_id"]
        .apply(set)
    )
    checked = 0
    for customer, products in bought.items():
        if customer in profiles:
            assert set(profiles[customer].purchased) == products
            assert not products & {i.product_id for i in profiles[customer].recommendations}
            checked += 1
    assert checked > 20
    assert "high_value" in report.segments and "lapsed" in report.segments


def test_no_orders_and_no_customers_tables(
    tmp_path: Path, scheduler_address: str, moto_endpoint: str, moto_table: str
) -> None:
    shop = synthetic.generate(users=100, products=40, days=6, seed=9)
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    synthetic.write_tables(shop, url)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for table in ("orders", "order_items", "customers"):
            conn.execute(sa.text(f"DROP TABLE {table}"))
    engine.dispose()
    _write_required_only(shop, tmp_path / "events", drop_purchases=False)

    settings = _variant_settings(tmp_path, url, scheduler_address, moto_endpoint, moto_table)
    report = pipeline.run(settings.model_copy(update={"as_of": "2026-10-04T00:00:00Z"}))
    assert report.generation and report.as_of == "2026-10-04T00:00:00Z"
    assert report.inputs["event_files"] == 4  # dt=2026-10-05 and later are not even opened
    assert "replica has no orders table: purchases come from events only" in report.warnings
    assert "replica has no customers table" in report.warnings
    items = generation_items(moto_endpoint, moto_table, report.generation)
    profiles = [
        payloads.decode_profile(layout.payload(i)) for i in items if i["sk"]["S"] == "profile"
    ]
    buyers = [p for p in profiles if p.purchased]
    assert buyers and all(p.rfm["frequency"] >= 1 for p in buyers)
    for p in buyers:
        assert not set(p.purchased) & {i.product_id for i in p.recommendations}
    members = [
        payloads.decode_segment_member(layout.payload(i))
        for i in items
        if i["sk"]["S"].startswith("user#")
    ]
    assert members and all(m.email == "" and not m.marketing_opt_in for m in members)
