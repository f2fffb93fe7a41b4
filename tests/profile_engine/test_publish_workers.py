"""The pieces of publishing from every worker that need no cluster: slicing the neighbour
lists, the per-worker figures, and a task's concurrent writes on a real DynamoDB API."""

from __future__ import annotations

import pandas as pd

from generation import layout, payloads
from profile_engine import publish_workers
from profile_engine.compute.catalog import Catalog
from tests.conftest import dynamodb_client


def test_neighbour_slices_keep_each_products_rows_together() -> None:
    frame = pd.DataFrame({"a": [0, 0, 1, 2, 2, 2, 5, 9], "b": range(8), "score": 1.0})
    slices = publish_workers.neighbour_slices(frame, 3)
    assert len(slices) == 3 and sum(len(s) for s in slices) == len(frame)
    owners = [set(s["a"]) for s in slices]
    assert all(not (x & y) for i, x in enumerate(owners) for y in owners[i + 1:])
    assert publish_workers.neighbour_slices(frame.iloc[:0], 3) == []


def test_a_task_writes_its_partition_with_requests_in_flight(
    moto_endpoint: str, table_factory: object
) -> None:
    table = table_factory(moto_endpoint)  # type: ignore[operator]
    catalog = Catalog.from_frame(pd.DataFrame({
        "product_id": [f"p{i:02d}" for i in range(60)], "name": "", "category": "c",
        "price": 1.0, "in_stock": True,
    }))
    neighbours = pd.DataFrame({
        "a": [a for a in range(60) for _ in range(3)],
        "b": [(a + d) % 60 for a in range(60) for d in (1, 2, 3)],
        "score": [1.0, 0.5, 0.25] * 60,
    })
    target = publish_workers.Target(table, "us-east-1", moto_endpoint, "G1", 2_000_000_000, 4)
    written = publish_workers.neighbour_part(neighbours, catalog, target)
    assert written.items == {"neighbours": 60} and written.bytes > 0 and written.batches >= 3
    item = dynamodb_client(moto_endpoint).get_item(
        TableName=table, Key=layout.neighbours_key("G1", "p07")
    )["Item"]
    assert [i.product_id for i in payloads.decode_neighbours(layout.payload(item)).items] == [
        "p08", "p09", "p10"
    ]
    summary = publish_workers.summarize([written, written])
    [(worker, row)] = summary["workers"].items()
    assert row["items"] == 120 and row["tasks"] == 2 and summary["items"] == 120
