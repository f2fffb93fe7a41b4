"""The run report gives events/s and peak worker memory per stage (text and JSON), progress
lines go to stderr when asked for (quiet otherwise); what bounds memory (partitions from the
input's size, the gate evaluated on the cluster, chunked parsing) gives the same results."""

from __future__ import annotations

import json
from pathlib import Path

import dask.dataframe as dd
import pandas as pd
import pytest
from distributed import Client

from profile_engine import cli, partitions, pipeline, synthetic
from profile_engine.compute.catalog import Catalog
from profile_engine.evaluation import data, run
from profile_engine.run_report import RunReport
from profile_engine.settings import EngineSettings
from profile_engine.sources import json_file, jsonlines
from profile_engine.stages import shuffle

STAGES = ("read events", "shuffle by user", "profiles", "evaluate", "neighbours", "publish")


def _shop(tmp_path: Path) -> list[str]:
    shop = synthetic.generate(users=250, products=60, days=14, seed=3)
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    synthetic.write_tables(shop, url)
    synthetic.write_events(shop.events, str(tmp_path / "events"), {})
    return ["--events", str(tmp_path / "events"), "--replica-url", url]


def test_report_has_rates_memory_and_progress(
    tmp_path: Path,
    scheduler_address: str,
    moto_endpoint: str,
    moto_table: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    inputs = _shop(tmp_path)
    common = [*inputs, "--scheduler", scheduler_address, "--table", moto_table]
    common += ["--dynamodb-endpoint-url", moto_endpoint]
    assert cli.main(["run", *common, "--progress", "--json", str(tmp_path / "r.json")]) == 0
    out, err = capsys.readouterr()

    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["events"] == doc["inputs"]["event_lines"] + doc["inputs"]["order_lines"] > 0
    for stage in STAGES:
        assert doc["events_per_s"][stage] > 0
        assert doc["stage_peak_rss_mb"][stage] > 0
        assert f"stage {stage}: " in err  # one progress line per stage
    assert "catalog" not in doc["events_per_s"]  # it reads no events
    assert doc["peak_rss_mb"] >= max(doc["stage_peak_rss_mb"].values()) > 0
    assert len(doc["peak_rss_mb_per_worker"]) == 2
    assert f"workers at {scheduler_address}" in err
    assert "events/s    read events " in out and "memory      peak RSS per worker " in out

    # Quiet unless asked (stderr is not a terminal under pytest).
    assert cli.main(["run", *common, "--force"]) == 0
    out, err = capsys.readouterr()
    assert "stage " not in err and "published generation" in out


def test_progress_defaults_to_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = EngineSettings()
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    assert pipeline.show_progress(settings)
    assert not pipeline.show_progress(settings.model_copy(update={"progress": False}))
    monkeypatch.setattr("sys.stderr.isatty", lambda: False)
    assert not pipeline.show_progress(settings)
    assert pipeline.show_progress(settings.model_copy(update={"progress": True}))


def test_report_format_without_measurements() -> None:
    report = RunReport()
    with report.stage("catalog"):
        pass
    text = report.format()
    assert "events/s" not in text and "memory" not in text
    assert report.as_json()["peak_rss_mb"] == 0


def test_partitions_follow_the_input_not_the_cluster() -> None:
    settings = EngineSettings(user_partition_rows=100_000)
    assert shuffle.user_partitions(30_000, settings) == 1
    assert shuffle.user_partitions(984_000, settings) == 10
    assert shuffle.user_partitions(3_900_000, settings) == 39  # 4x the input, same size parts
    assert shuffle.user_partitions(0, settings) == 1


def test_neighbour_groups_hold_a_bounded_number_of_rows() -> None:
    parts = [("a", 400), ("b", 400), ("c", 300), ("d", 1500), ("e", 10)]
    assert partitions._groups_of(parts, 1000) == [["a", "b"], ["c"], ["d"], ["e"]]
    assert partitions._groups_of([], 1000) == []


def test_gate_on_cluster_equals_single_process(tmp_path: Path, scheduler_address: str) -> None:
    inputs = _shop(tmp_path)
    settings = EngineSettings(events=inputs[1], replica_url=inputs[3])
    with Client(scheduler_address) as client:
        loaded = data.load(settings, client)
        rows = loaded.interactions
        expected = run.engine_ndcg(rows, settings.ranker_params())
        parts = dd.from_pandas(rows, npartitions=3).shuffle(on="uid", npartitions=5)
        params, n_products = settings.ranker_params(), len(loaded.catalog)
        got = run.engine_ndcg_on_cluster(parts, params, client, n_products)
    assert expected["ndcg@10"] > 0
    for k, v in expected.items():
        if not k.endswith("_s"):
            assert got[k] == pytest.approx(v, rel=1e-9), k


def test_parse_in_chunks_equals_whole_file(catalog: Catalog) -> None:
    lines = [
        json.dumps(
            {
                "ts": 1_790_000_000_000 + i * 60_000,
                "user_id": f"u{i % 7}",
                "event_type": ("view", "add_to_cart", "purchase", "search")[i % 4],
                "product_id": "ABCDEF"[i % 6],
            }
        )
        for i in range(50)
    ]
    lines[10], lines[33] = "{not json", json.dumps({"user_id": "u1", "event_type": "nope"})
    whole = jsonlines.parse_lines(lines, "f.jsonl", catalog, None, {})
    chunked = json_file.parse_in_chunks(lines, "f.jsonl", catalog, None, {}, 8)
    pd.testing.assert_frame_equal(whole.frame, chunked.frame)
    pd.testing.assert_frame_equal(whole.users, chunked.users)
    assert whole.stats == chunked.stats
    assert chunked.stats.bad == {"malformed_json": 1, "unknown_event_type": 1}
