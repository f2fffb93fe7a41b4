"""The job on real `dask scheduler` + `dask worker` processes, publishing from every worker,
publishes item for item what a LocalCluster run publishing from one process does; losing a
worker mid-run (in the shuffle, or while the workers write) still ends correctly, or fails
and flips nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from generation import layout
from loopback.dask_cluster import dask_cluster
from loopback.processes import Proc
from profile_engine import cli
from tests.conftest import dynamodb_client


def content(endpoint: str, table: str) -> dict[str, bytes]:
    """Every published item of the served generation, keyed without the generation id
    (the manifest aside: it records ids and timings)."""
    client = dynamodb_client(endpoint)
    pointer = client.get_item(TableName=table, Key=layout.pointer_key())["Item"]
    generation = layout.decode_pointer(pointer).generation
    prefix = f"gen#{generation}#"
    out: dict[str, bytes] = {}
    kwargs: dict[str, Any] = {
        "TableName": table,
        "FilterExpression": "begins_with(pk, :g)",
        "ExpressionAttributeValues": {":g": {"S": prefix}},
    }
    while True:
        page = client.scan(**kwargs)
        for item in page["Items"]:
            key = item["pk"]["S"].removeprefix(prefix) + "|" + item["sk"]["S"]
            out[key] = layout.payload(item)
        if "LastEvaluatedKey" not in page:
            return out
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_cluster_output_equals_local_and_survives_worker_loss(
    moto_endpoint: str,
    s3_bucket: str,
    pg_url: str,
    table_factory: Callable[..., str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    events = f"s3://{s3_bucket}/events"
    common = ["--events", events, "--replica-url", pg_url, "--s3-endpoint-url", moto_endpoint]
    gen = ["generate", "--users", "600", "--products", "120", "--days", "21", "--seed", "5"]
    assert cli.main([*gen, *common]) == 0
    local_table = table_factory(moto_endpoint)
    run = [
        "run",
        *common,
        "--dynamodb-endpoint-url",
        moto_endpoint,
        "--as-of",
        "2026-11-24T00:00:00Z",
    ]
    # The single-process publish: the driver writes every item.
    monkeypatch.setenv("PROFILE_ENGINE_PUBLISH_FROM_WORKERS", "false")
    assert cli.main([*run, "--table", local_table]) == 0, capsys.readouterr().err
    monkeypatch.delenv("PROFILE_ENGINE_PUBLISH_FROM_WORKERS")
    expected = content(moto_endpoint, local_table)
    assert any(k.startswith("user#") for k in expected)

    workers: list[Proc] = []
    with dask_cluster(n_workers=3, workers_out=workers) as address:
        cluster_table = table_factory(moto_endpoint)
        assert cli.main([*run, "--table", cluster_table, "--scheduler", address]) == 0
        out = capsys.readouterr().out
        assert content(moto_endpoint, cluster_table) == expected
        # Written by the workers: three of them, each with its items/s in the report.
        publish_line = next(line for line in out.splitlines() if line.startswith("publish "))
        assert "by 3 workers" in publish_line and publish_line.count("items/s") == 4

        # Kill a worker while the workers write: its tasks run again elsewhere (puts are
        # idempotent), or the run fails; never a flipped pointer to a partial generation.
        _lose_a_worker(run, address, workers.pop(), table_factory(moto_endpoint),
                       "stage publish started", moto_endpoint, expected)

        # Kill another one (nanny and process) once the shuffle has started.
        _lose_a_worker(run, address, workers[0], table_factory(moto_endpoint),
                       "stage shuffle by user started", moto_endpoint, expected)


def _lose_a_worker(
    run: list[str], address: str, victim: Proc, table: str, when: str, endpoint: str,
    expected: dict[str, bytes],
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "profile_engine", *run, "--table", table, "--scheduler",
         address, "--verbose"],
        env=dict(os.environ), stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert proc.stderr is not None
    log = []
    for line in proc.stderr:
        log.append(line)
        if when in line:
            victim.kill()
            break
    _, rest_err = proc.communicate(timeout=300)
    log.append(rest_err)
    print(f"worker lost at {when!r}: exit code {proc.returncode}; {''.join(log)[-1500:]}")
    if proc.returncode == 0:
        assert content(endpoint, table) == expected
    else:
        assert "the served generation was not changed" in "".join(log)
        client = dynamodb_client(endpoint)
        assert "Item" not in client.get_item(TableName=table, Key=layout.pointer_key())
