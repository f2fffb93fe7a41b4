"""The quality gate: a run evaluates its ranker before publishing; a degraded model does not
publish (unless forced) and says why; the served manifest records the metrics."""

from __future__ import annotations

from pathlib import Path

import pytest

from generation import layout, payloads
from profile_engine import gate, pipeline, synthetic
from profile_engine.settings import EngineSettings
from tests.conftest import dynamodb_client


def _live(endpoint: str, table: str) -> tuple[str | None, dict[str, float]]:
    return gate.live_metrics(dynamodb_client(endpoint), table)


def test_degraded_model_does_not_publish(
    tmp_path: Path, scheduler_address: str, moto_endpoint: str, moto_table: str
) -> None:
    shop = synthetic.generate(users=250, products=60, days=14, seed=11)
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    synthetic.write_tables(shop, url)
    synthetic.write_events(shop.events, str(tmp_path / "events"), {})
    base = {
        "events": str(tmp_path / "events"),
        "replica_url": url,
        "scheduler": scheduler_address,
        "table": moto_table,
        "dynamodb_endpoint_url": moto_endpoint,
    }

    good = pipeline.run(EngineSettings(**base))
    served, metrics = _live(moto_endpoint, moto_table)
    assert good.generation and served == good.generation
    assert metrics["ndcg@10"] == pytest.approx(good.metrics["ndcg@10"]) and metrics["ndcg@10"] > 0
    assert {"precision@10", "recall@20", "coverage@10"} <= set(metrics)
    assert "the served generation has no figure" in (good.gate or "")

    # Tuning off, one modelled product and no popularity prior: the ranker's lists collapse.
    degraded = EngineSettings(
        **base, tuning=False, ranker_max_items=1, ranker_popularity_weight=0.0
    )
    blocked = pipeline.run(degraded)
    assert blocked.generation is None
    assert blocked.metrics["ndcg@10"] < metrics["ndcg@10"] * (1 - degraded.quality_tolerance)
    assert "below the floor, not published" in (blocked.gate or "")
    assert "nothing published" in blocked.format()
    assert _live(moto_endpoint, moto_table)[0] == good.generation

    forced = pipeline.run(degraded, force=True)
    assert forced.generation and _live(moto_endpoint, moto_table)[0] == forced.generation
    assert "--force" in (forced.gate or "")
    manifest = dynamodb_client(moto_endpoint).get_item(
        TableName=moto_table, Key=layout.manifest_key(forced.generation)
    )["Item"]
    assert payloads.decode_manifest(layout.payload(manifest)).metrics["ndcg@10"] == pytest.approx(
        forced.metrics["ndcg@10"]
    )


def test_judge() -> None:
    assert gate.judge({"ndcg@10": 0.091}, {"ndcg@10": 0.1}, 0.1).publish
    no = gate.judge({"ndcg@10": 0.05}, {"ndcg@10": 0.1}, 0.1)
    assert not no.publish and "0.0500 vs served 0.1000" in no.reason
    assert gate.judge({"ndcg@10": 0.05}, {"ndcg@10": 0.1}, 0.1, force=True).publish
    assert gate.judge({"ndcg@10": 0.05}, {}, 0.1).publish
    assert gate.judge({}, {"ndcg@10": 0.1}, 0.1).publish
