"""Publishing by DynamoDB import from S3 on the real moto server: the imported table holds
the very items the writes path puts, the pointer (in the fixed table) names it, a failed
import leaves the served generation and deletes its half-made table, rollback works
across tables and refuses a generation whose table is gone, and old tables are swept."""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from generation import layout
from profile_engine import (
    cli,
    generation_tables,
    generations,
    publish,
    publish_import,
    retention,
    synthetic,
)
from profile_engine.errors import PublishError, RollbackRefused
from profile_engine.import_files import item_line
from profile_engine.served import ServedTable
from tests.conftest import dynamodb_client, s3_client
from tests.recsvc import seed

DAY = 86_400
# A sample generation's items: profiles, neighbour lists, popular lists (overall + 3),
# segment members (high_value + lapsed), one catalogue part, one product details bucket.
N_ITEMS = seed.N_USERS + seed.N_PRODUCTS + 4 + seed.HIGH_VALUE_SIZE + 3 + 1 + 1


@pytest.fixture
def fixed(moto_endpoint: str, table_factory: Callable[..., str]) -> Iterator[str]:
    """The fixed table (pointer, history, manifests); its generation tables go after."""
    table = table_factory(moto_endpoint)
    yield table
    seed.drop_generation_tables(moto_endpoint, table)


def _items(endpoint: str, table: str) -> dict[tuple[str, str], Any]:
    client, out = dynamodb_client(endpoint), {}
    kwargs: dict[str, Any] = {"TableName": table}
    while True:
        page = client.scan(**kwargs)
        out.update({layout.key_of(i): i for i in page["Items"]})
        if "LastEvaluatedKey" not in page:
            return out
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _keys(endpoint: str, bucket: str) -> list[str]:
    page = s3_client(endpoint).list_objects_v2(Bucket=bucket)
    return [o["Key"] for o in page.get("Contents", [])]


def test_import_serves_the_items_the_writes_path_puts(
    moto_endpoint: str, fixed: str, table_factory: Callable[..., str], s3_bucket: str
) -> None:
    gen = publish.new_generation_id()
    report, figures = seed.import_to(moto_endpoint, fixed, seed.sample_generation(gen), s3_bucket)
    written = table_factory(moto_endpoint)
    publish.publish(dynamodb_client(moto_endpoint), written, seed.sample_generation(gen),
                    ttl_days=1)

    table = f"{fixed}-gen-{gen}"
    assert figures.table == table and figures.items == sum(report.items.values())
    imported, by_writes = _items(moto_endpoint, table), _items(moto_endpoint, written)
    manifest_key = layout.key_of(layout.manifest_key(gen))
    meta = {layout.key_of(layout.pointer_key()), layout.key_of(layout.history_key()),
            manifest_key}
    # Byte for byte the items of the writes path (expiry aside: a second apart).
    strip = {layout.TTL_ATTRIBUTE}
    assert {k: {a: v for a, v in i.items() if a not in strip} for k, i in imported.items()} == {
        k: {a: v for a, v in i.items() if a not in strip}
        for k, i in by_writes.items() if k not in meta
    }
    assert len(imported) == figures.items == N_ITEMS
    # The fixed table: the pointer and the manifest name the table, nothing else of it.
    pointer = ServedTable(dynamodb_client(moto_endpoint), fixed).pointer()
    assert pointer is not None and (pointer.generation, pointer.table) == (gen, table)
    fixed_items = _items(moto_endpoint, fixed)
    assert layout.manifest_table(fixed_items[manifest_key]) == table
    assert not any(k[0].startswith(f"gen#{gen}#") for k in fixed_items)
    # export-segment's reader follows the manifest to the table too.
    served = ServedTable(dynamodb_client(moto_endpoint), fixed)
    assert served.served().generation == gen
    assert [m.user_id for page in served.segment_pages(gen, "lapsed", 2) for m in page] == [
        seed.user(n) for n in (1, 2, 3)]
    ttl = dynamodb_client(moto_endpoint).describe_time_to_live(TableName=table)
    assert ttl["TimeToLiveDescription"]["AttributeName"] == layout.TTL_ATTRIBUTE
    assert _keys(moto_endpoint, s3_bucket) == []  # the staged files go once imported
    assert figures.files == 2 and figures.json_bytes > figures.gzip_bytes > 0


def _stray(endpoint: str, bucket: str, gen: str, item: dict[str, Any]) -> None:
    """A file beside the ones the run stages, under its generation's prefix."""
    s3_client(endpoint).put_object(Bucket=bucket, Key=f"staging/{gen}/zz-stray-0000.json.gz",
                                   Body=gzip.compress(item_line(item)))


@pytest.mark.parametrize("stray, message", [
    # an item DynamoDB rejects (no range key): moto fails the import, AWS counts an error
    ({"pk": {"S": "x"}, "data": {"B": b"1"}}, "Missing the key sk|errors"),
    # one item more than staged: the counts do not match
    ({"pk": {"S": "x"}, "sk": {"S": "y"}},
     f"imported {N_ITEMS + 1} items with 0 errors; {N_ITEMS} were staged"),
])
def test_a_failed_import_leaves_the_served_generation(
    moto_endpoint: str, fixed: str, s3_bucket: str, stray: dict[str, Any], message: str
) -> None:
    served = seed.sample_generation()
    seed.import_to(moto_endpoint, fixed, served, s3_bucket)
    failing = seed.sample_generation()
    gen = failing.manifest.generation
    _stray(moto_endpoint, s3_bucket, gen, stray)
    with pytest.raises(PublishError, match=message):
        seed.import_to(moto_endpoint, fixed, failing, s3_bucket)
    client = dynamodb_client(moto_endpoint)
    assert publish.current_generation(client, fixed) == served.manifest.generation
    assert generation_tables.state(client, f"{fixed}-gen-{gen}") is None  # half-made: gone
    assert any(k.startswith(f"staging/{gen}/") for k in _keys(moto_endpoint, s3_bucket))


def test_an_import_past_its_timeout_fails_the_run(
    moto_endpoint: str, fixed: str, s3_bucket: str
) -> None:
    data = seed.sample_generation()
    gen = data.manifest.generation
    # Thousands of lines: moto parses them for seconds, far past a zero timeout.
    lines = b"".join(item_line(layout.profile_item(gen, seed._profile(n % seed.N_USERS)))
                     for n in range(20_000))
    s3_client(moto_endpoint).put_object(
        Bucket=s3_bucket, Key=f"staging/{gen}/big-0000.json.gz", Body=gzip.compress(lines))
    client = dynamodb_client(moto_endpoint)
    with pytest.raises(PublishError, match="did not complete within 0 s"):
        publish_import.publish_by_import(
            client, s3_client(moto_endpoint), fixed, data, ttl_days=1,
            staging_url=f"s3://{s3_bucket}/staging", region=seed.REGION,
            s3_endpoint_url=moto_endpoint,
            table_prefix=generation_tables.default_prefix(fixed), timeout_s=0,
        )
    assert publish.current_generation(client, fixed) is None


def test_rollback_across_tables_and_refusal_when_the_table_is_gone(
    moto_endpoint: str, fixed: str, s3_bucket: str
) -> None:
    client = dynamodb_client(moto_endpoint)
    written = seed.sample_generation()
    publish.publish(client, fixed, written, ttl_days=1)  # in the fixed table
    first, _ = seed.import_to(moto_endpoint, fixed, seed.sample_generation(), s3_bucket)
    second, _ = seed.import_to(moto_endpoint, fixed, seed.sample_generation(), s3_bucket)
    listed = {g.generation: g for g in generations.list_generations(client, fixed)}
    assert listed[written.manifest.generation].table == ""
    assert listed[first.generation].table == f"{fixed}-gen-{first.generation}"

    def served() -> tuple[str, str]:
        pointer = ServedTable(client, fixed).pointer()
        assert pointer is not None
        return pointer.generation, pointer.table

    generations.rollback(client, fixed, to=first.generation)
    assert served() == (first.generation, f"{fixed}-gen-{first.generation}")
    generations.rollback(client, fixed, to=written.manifest.generation)
    assert served() == (written.manifest.generation, "")
    generations.rollback(client, fixed, to=second.generation)  # forward, into its table
    assert served() == (second.generation, f"{fixed}-gen-{second.generation}")

    client.delete_table(TableName=f"{fixed}-gen-{first.generation}")
    with pytest.raises(RollbackRefused, match=f"its table {fixed}-gen-{first.generation} is gone"):
        generations.rollback(client, fixed, to=first.generation)
    assert served()[0] == second.generation


def test_sweep_deletes_the_tables_out_of_the_rollback_window(
    moto_endpoint: str, fixed: str, s3_bucket: str
) -> None:
    client = dynamodb_client(moto_endpoint)
    old, _ = seed.import_to(moto_endpoint, fixed, seed.sample_generation(), s3_bucket)
    kept, _ = seed.import_to(moto_endpoint, fixed, seed.sample_generation(), s3_bucket,
                             ttl_days=3)
    # A crashed run's table (no manifest, older than what is served), a table of a run
    # importing right now (newer), and one that is not a generation's.
    crashed = f"{fixed}-gen-20000101T000000Z-abcdef"
    importing = f"{fixed}-gen-29991231T235959Z-abcdef"
    other = f"{fixed}-gen-notes"
    for name in (crashed, importing, other):
        client.create_table(**layout.table_definition(name))
    served, figures = seed.import_to(moto_endpoint, fixed, seed.sample_generation(), s3_bucket)
    assert figures.deleted_tables == [crashed]  # the others still within the window

    # Two days on: the one-day generations left the window (their TTL), the served stays.
    deleted = retention.sweep(client, fixed, generation_tables.default_prefix(fixed),
                              now=time.time() + 2 * DAY)
    assert deleted == [f"{fixed}-gen-{old.generation}"]
    left = set(client.list_tables()["TableNames"])
    assert {f"{fixed}-gen-{kept.generation}", f"{fixed}-gen-{served.generation}",
            importing, other} <= left
    assert f"{fixed}-gen-{old.generation}" not in left
    why = {g.generation: g.why_not for g in generations.list_generations(client, fixed)}
    assert "gone" in why[old.generation] and why[kept.generation] == ""


def test_settings_require_a_staging_place_for_imports(monkeypatch: pytest.MonkeyPatch) -> None:
    from profile_engine.cli_settings import settings_from
    from profile_engine.errors import SettingsError

    monkeypatch.setenv("PROFILE_ENGINE_PUBLISH_MODE", "auto")
    with pytest.raises(SettingsError, match="PROFILE_ENGINE_IMPORT_STAGING=None"):
        settings_from({})
    monkeypatch.setenv("PROFILE_ENGINE_IMPORT_STAGING", "s3://bucket/imports")
    monkeypatch.setenv("PROFILE_ENGINE_GENERATION_TABLE_PREFIX", "recs gen")
    with pytest.raises(SettingsError, match="PROFILE_ENGINE_GENERATION_TABLE_PREFIX"):
        settings_from({})
    monkeypatch.delenv("PROFILE_ENGINE_GENERATION_TABLE_PREFIX")
    settings = settings_from({"table": "shop"})
    assert settings.generation_tables == "shop-gen-"


def test_a_run_publishes_by_import_from_its_workers(
    moto_endpoint: str, fixed: str, s3_bucket: str, scheduler_address: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    shop = synthetic.generate(users=150, products=40, days=7, seed=3)
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    synthetic.write_tables(shop, url)
    synthetic.write_events(shop.events, str(tmp_path / "events"), {})
    for name, value in {"PUBLISH_MODE": "auto", "IMPORT_MIN_ITEMS": "1", "TUNING": "false",
                        "IMPORT_STAGING": f"s3://{s3_bucket}/imports"}.items():
        monkeypatch.setenv(f"PROFILE_ENGINE_{name}", value)
    run = ["run", "--events", str(tmp_path / "events"), "--replica-url", url, "--scheduler",
           scheduler_address, "--table", fixed, "--dynamodb-endpoint-url", moto_endpoint,
           "--s3-endpoint-url", moto_endpoint, "--force"]
    assert cli.main(run) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    gen = out.split("published generation ")[1].split()[0]
    client = dynamodb_client(moto_endpoint)
    pointer = ServedTable(client, fixed).pointer()
    assert pointer is not None and pointer.table == f"{fixed}-gen-{gen}"
    assert "imported" in out and f"into {fixed}-gen-{gen}" in out and "first file to flip" in out
    manifest = ServedTable(client, fixed).served()
    profiles = [k for k in _items(moto_endpoint, pointer.table) if k[1] == "profile"]
    assert len(profiles) == manifest.counts["users"] > 100
    assert _keys(moto_endpoint, s3_bucket) == []

    # Files that cannot be written: the run fails (exit 1), the served generation stays.
    monkeypatch.setenv("PROFILE_ENGINE_IMPORT_STAGING", "s3://no-such-bucket-here/imports")
    assert cli.main(run) == 1
    err = capsys.readouterr().err
    assert "PublishError" in err and "the served generation was not changed" in err
    assert publish.current_generation(client, fixed) == gen
