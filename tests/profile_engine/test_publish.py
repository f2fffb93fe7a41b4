"""Publishing a generation: complete writes in batches of 25, capped retries, atomic flip."""

from __future__ import annotations

from typing import Any

import pytest

from generation import (
    GenerationData,
    Manifest,
    Neighbours,
    PopularList,
    Profile,
    ScoredItem,
    SegmentInfo,
    SegmentMember,
    layout,
    payloads,
)
from profile_engine import publish as pub
from profile_engine.errors import PublishError
from tests.conftest import dynamodb_client


def generation(
    n_users: int = 60, gen: str | None = None, fail_after: int | None = None
) -> GenerationData:
    gen = gen or pub.new_generation_id()

    def profiles():
        for i in range(n_users):
            if fail_after is not None and i == fail_after:
                raise RuntimeError("worker lost")  # a source dying mid-run
            yield Profile(f"u{i}", (ScoredItem("p1", 1.0, "popular now"),), purchased=("p9",))

    members = [
        ("high_value", SegmentMember(f"u{i}", f"u{i}@example.com", True, {"country": "DE"}))
        for i in range(30)
    ]
    return GenerationData(
        manifest=Manifest(
            gen,
            "2026-11-24T00:00:00Z",
            counts={"users": n_users},
            segments=(SegmentInfo("high_value", "top spenders", 30),),
        ),
        profiles=profiles(),
        neighbours=[Neighbours("p1", "shoes", True, (ScoredItem("p2", 0.5),))],
        popular=[
            PopularList("", (ScoredItem("p1", 3.0),)),
            PopularList("shoes", (ScoredItem("p1", 3.0),)),
        ],
        segment_members=members,
    )


@pytest.fixture(params=["moto", "dynalite"])
def table(request, table_factory) -> tuple[Any, str]:
    endpoint = request.getfixturevalue(f"{request.param}_endpoint")
    name = table_factory(endpoint, ttl=request.param == "moto")
    return dynamodb_client(endpoint), name


def test_publish_writes_everything_then_flips(table):
    client, name = table
    data = generation()
    report = pub.publish(client, name, data, ttl_days=1)
    gen = data.manifest.generation
    assert report.items == {"profiles": 60, "neighbours": 1, "catalogue": 1, "popular": 2,
                            "segment_members": 30}
    assert report.previous_generation is None
    assert pub.current_generation(client, name) == gen
    item = client.get_item(TableName=name, Key=layout.profile_key(gen, "u59"))["Item"]
    assert payloads.decode_profile(layout.payload(item)).purchased == ("p9",)
    assert int(item[layout.TTL_ATTRIBUTE]["N"]) > 0
    manifest = payloads.decode_manifest(layout.payload(
        client.get_item(TableName=name, Key=layout.manifest_key(gen))["Item"]
    ))
    assert manifest.segments[0].size == 30
    assert manifest.counts["catalogue_parts"] == 1


def test_failed_run_leaves_previous_generation_served(table):
    client, name = table
    good = generation()
    pub.publish(client, name, good, ttl_days=1)
    bad = generation(fail_after=40)
    with pytest.raises(PublishError, match="worker lost"):
        pub.publish(client, name, bad, ttl_days=1)
    assert pub.current_generation(client, name) == good.manifest.generation
    # The half-written generation has no manifest: nothing can mistake it for complete.
    assert "Item" not in client.get_item(
        TableName=name, Key=layout.manifest_key(bad.manifest.generation)
    )


def test_concurrent_run_is_not_flipped_over(moto_endpoint, moto_table):
    client = dynamodb_client(moto_endpoint)
    first = generation()
    pub.publish(client, moto_table, first, ttl_days=1)
    with pytest.raises(PublishError, match="changed while this run published"):
        pub.flip_pointer(
            client, moto_table, "other", "2026-11-24T00:00:00Z", expected="not-the-current"
        )
    assert pub.current_generation(client, moto_table) == first.manifest.generation


class Throttled:
    """A real client that DynamoDB throttles: only part of each batch is processed."""

    def __init__(self, client: Any, keep: int) -> None:
        self.client, self.keep, self.sizes = client, keep, []

    def batch_write_item(self, RequestItems: dict[str, list[Any]]) -> dict[str, Any]:
        ((table, requests),) = RequestItems.items()
        self.sizes.append(len(requests))
        if self.keep:
            self.client.batch_write_item(RequestItems={table: requests[: self.keep]})
        rest = requests[self.keep :]
        return {"UnprocessedItems": {table: rest} if rest else {}}


def test_unprocessed_items_are_retried_until_written(moto_endpoint, moto_table):
    client = Throttled(dynamodb_client(moto_endpoint), keep=10)
    report = pub.PublishReport("g")
    items = [layout.popular_item("g", PopularList(f"c{i}", ())) for i in range(60)]
    delays: list[float] = []
    assert pub.write_items(client, moto_table, items, report, sleep=delays.append) == 60
    assert max(client.sizes) == pub.BATCH_WRITE_LIMIT
    assert report.retried_items > 0 and all(0 <= d <= pub.BACKOFF_CAP_S for d in delays)
    stored = dynamodb_client(moto_endpoint).scan(TableName=moto_table)["Count"]
    assert stored == 60


def test_retries_are_capped(moto_endpoint, moto_table):
    client = Throttled(dynamodb_client(moto_endpoint), keep=0)
    items = [layout.popular_item("g", PopularList("c", ()))]
    with pytest.raises(PublishError, match="unprocessed after"):
        pub.write_items(client, moto_table, items, pub.PublishReport("g"), sleep=lambda _: None)
    assert len(client.sizes) == pub.MAX_ATTEMPTS
