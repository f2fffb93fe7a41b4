"""`profile-engine run` on what the service's Track API delivers through Firehose: the same
shop as dt= partitions or as Firehose objects with events the model ignores publishes the
same; input with nothing to learn from stops the run."""

from __future__ import annotations

import gzip
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from clickstream import EventRecord
from generation import layout, payloads
from profile_engine import pipeline, synthetic
from profile_engine.errors import InputError
from profile_engine.settings import EngineSettings
from tests.conftest import dynamodb_client
from tests.profile_engine.firehose_objects import FAILED, HOUR, body, key, record, write_objects


def _deliver(shop_events: pd.DataFrame, root: Path) -> dict[str, int]:
    """The shop's events as the Track API would deliver them: EventRecord lines in hourly
    gzip objects without suffix, each shopper's views followed by an impression and a click,
    plus anonymous visitors' views; Firehose's error output beside them. Returns the extra
    events per type."""
    rows = shop_events.to_dict("records")
    records: list[EventRecord] = []
    extra = {"impression": 0, "click": 0, "remove_from_cart": 0, "anonymous": 0}
    for i, r in enumerate(rows):
        common = {"ts": int(r["ts"]), "user_id": r["user_id"], "session_id": r["session_id"]}
        product = r["product_id"] or ""
        records.append(
            EventRecord(
                event_id=f"e{i}",
                event_type=r["event_type"],
                product_id=product,
                quantity=0 if r["quantity"] != r["quantity"] else int(r["quantity"]),
                price=None if r["price"] != r["price"] else float(r["price"]),
                query=r["query"] or "",
                **common,
            )
        )
        if r["event_type"] == "view" and i % 3 == 0:
            records.append(
                EventRecord(f"i{i}", event_type="impression", product_ids=(product,), **common)
            )
            records.append(EventRecord(f"c{i}", event_type="click", product_id=product, **common))
            records.append(
                EventRecord(
                    f"a{i}", int(r["ts"]), "view", session_id=f"anon-{i % 50}", product_id=product
                )
            )
            extra["impression"] += 1
            extra["click"] += 1
            extra["anonymous"] += 1
        if r["event_type"] == "add_to_cart" and i % 2 == 0:
            records.append(
                EventRecord(f"r{i}", event_type="remove_from_cart", product_id=product, **common)
            )
            extra["remove_from_cart"] += 1
    by_hour: dict[datetime, list[EventRecord]] = {}
    for rec in records:
        hour = datetime.fromtimestamp(rec.ts // 1000, tz=timezone.utc).replace(minute=0, second=0)
        by_hour.setdefault(hour, []).append(rec)
    objects = {key(h, n): gzip.compress(body(recs)) for n, (h, recs) in enumerate(by_hour.items())}
    objects["processing-failed/" + key(HOUR, 999)] = FAILED + b"\n"
    write_objects(root, objects)
    return extra


def test_run_on_a_firehose_delivery_equals_the_run_on_its_dt_partitions(
    tmp_path: Path, scheduler_address: str, moto_endpoint: str, moto_table: str
) -> None:
    # The same shop twice: as dt= partitions, and as the service delivers it with the event
    # types the model ignores and anonymous visitors added. Those are counted, not rejected,
    # and change no output.
    shop = synthetic.generate(users=120, products=40, days=6, seed=8)
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    synthetic.write_tables(shop, url)
    synthetic.write_events(shop.events, str(tmp_path / "dt"), {})
    extra = _deliver(shop.events, tmp_path / "firehose")
    settings = EngineSettings(
        events=str(tmp_path / "dt"),
        replica_url=url,
        scheduler=scheduler_address,
        table=moto_table,
        dynamodb_endpoint_url=moto_endpoint,
    )
    plain = pipeline.run(settings)
    delivered = pipeline.run(settings.model_copy(update={"events": str(tmp_path / "firehose")}))

    assert delivered.generation and delivered.bad_lines == {} and plain.bad_lines == {}
    assert delivered.inputs["events_anonymous"] == extra.pop("anonymous") > 0
    assert plain.inputs["events_anonymous"] == 0
    assert delivered.inputs["events_modelled"] == plain.inputs["events_modelled"] > 0
    added = {**extra, "view": plain.events_by_type["view"] + delivered.inputs["events_anonymous"]}
    assert delivered.events_by_type == {**plain.events_by_type, **added}
    assert delivered.inputs["events_valid"] == delivered.inputs["event_lines"]
    assert delivered.as_of == plain.as_of
    assert delivered.counts == plain.counts and delivered.segments == plain.segments
    assert delivered.metrics == pytest.approx(plain.metrics)
    item = dynamodb_client(moto_endpoint).get_item(
        TableName=moto_table, Key=layout.manifest_key(delivered.generation)
    )["Item"]
    manifest = payloads.decode_manifest(layout.payload(item))
    assert manifest.counts["input_events_anonymous"] == delivered.inputs["events_anonymous"]


def test_only_events_the_model_ignores_and_no_orders_is_an_input_error(
    tmp_path: Path, scheduler_address: str, moto_endpoint: str, moto_table: str
) -> None:
    shop = synthetic.generate(users=30, products=20, days=2, seed=5)
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    synthetic.write_tables(shop, url)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for table in ("orders", "order_items"):
            conn.execute(sa.text(f"DROP TABLE {table}"))
    engine.dispose()
    product = str(shop.products["product_id"].iloc[0])
    lines = [record(1, user_id="", session_id="anon", product_id=product)]
    lines += [record(2, event_type="impression", product_id="", product_ids=(product,))]
    write_objects(tmp_path / "events", {key(HOUR, 1): body(lines)})
    settings = EngineSettings(
        events=str(tmp_path / "events"),
        replica_url=url,
        scheduler=scheduler_address,
        table=moto_table,
        dynamodb_endpoint_url=moto_endpoint,
    )
    with pytest.raises(InputError, match=r"no events to learn from .* \(2 valid\) and no orders"):
        pipeline.run(settings)
