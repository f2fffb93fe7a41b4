"""Evaluation protocol pieces: split, metrics, ranker, report; and the real-data figures of
EVALUATION.md when ../shared/data is present."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from profile_engine import tuning
from profile_engine.compute import codes, ranker, recommend
from profile_engine.evaluation import compared_models, metrics, report, run, split
from profile_engine.tuning.evaluate import evaluate

DAY = codes.DAY_MS


def _rows(*rows: tuple[int, int, float]) -> pd.DataFrame:
    """(user, product, day) purchases."""
    return pd.DataFrame(
        {
            "uid": [r[0] for r in rows],
            "pcode": [r[1] for r in rows],
            "ts": [int(r[2] * DAY) for r in rows],
            "etype": codes.PURCHASE,
        }
    )


def test_split_keeps_new_items_and_separates_rebuys() -> None:
    df = _rows(
        (1, 0, 1), (1, 1, 2), (1, 2, 9.6), (1, 0, 9.7),  # user 1: new item 2, re-buys 0
        (2, 1, 3), (2, 0, 4), (2, 3, 9.8),  # user 2: item 3 unknown to train
        (3, 2, 5),  # user 3: one interaction only, dropped
        (4, 2, 6), (4, 1, 7), (4, 0, 0.5), (4, 0, 0.7), (4, 1, 0.8), (4, 2, 0.9), (4, 1, 1.1),
    )
    s = split.temporal_split(df, quantile=0.8)
    assert s.n_users == 3 and set(s.items) == {0, 1, 2}
    assert [s.users[u] for u in s.eval_users] == [1]
    assert [s.items[i] for i in s.relevant[0]] == [2]
    assert [s.users[u] for u in s.rebuy_users] == [1]
    assert [s.items[i] for i in s.rebuys[0]] == [0]


def test_metrics_by_hand() -> None:
    top = np.array([[5, 1, 7] + [-1] * 17, [2, 3, 4] + [-1] * 17])
    m = metrics.ranking_metrics(top, [np.array([1]), np.array([9, 8])], n_items=10)
    assert m["precision@10"] == pytest.approx(0.05)
    assert m["hr@10"] == pytest.approx(0.5)
    assert m["recall@10"] == pytest.approx(0.5)
    assert m["ndcg@10"] == pytest.approx((1 / np.log2(3)) / 2)
    assert m["coverage@10"] == pytest.approx(0.6)
    assert metrics.buy_again_recall(top, [np.array([5, 6]), np.array([4])]) == pytest.approx(0.75)


def _items(rows: list[tuple[int, int, int, float]], as_of: int) -> pd.DataFrame:
    """user_items-shaped frame from (uid, pcode, etype, days ago)."""
    return pd.DataFrame(
        {
            "uid": [r[0] for r in rows],
            "pcode": [r[1] for r in rows],
            "last_ts": [as_of - int(r[3] * DAY) for r in rows],
            "etype": [r[2] for r in rows],
            "score": 1.0,
            "n": 1,
            "bought": [r[2] == codes.PURCHASE for r in rows],
        }
    ).astype({"uid": "int64", "pcode": "int32", "etype": "int8", "n": "int32"})


def test_ranker_learns_co_purchases_and_explains() -> None:
    as_of = 100 * DAY
    p = codes.PURCHASE
    rows = [(u, 0, p, 5) for u in range(1, 30)] + [(u, 1, p, 5) for u in range(1, 30)]
    rows += [(u, 2, p, 5) for u in range(30, 40)] + [(u, 3, p, 5) for u in range(30, 40)]
    rows += [(99, 0, codes.VIEW, 1)]
    items = _items(rows, as_of)
    params = ranker.RankerParams(lam=1.0, popularity_weight=0.0)
    model = ranker.fit_frame(items, 5, as_of, params)
    out = ranker.score(model, items[items["uid"] == 99], as_of, 2)
    assert out["pcode"].tolist()[0] == 1
    first = out.iloc[0]
    assert (first["source"], first["source_etype"]) == (0, codes.VIEW)
    # A bounded model: only the most-used product, and nothing the user bought comes back.
    small = ranker.fit_frame(items, 5, as_of, ranker.RankerParams(max_items=1))
    assert small.weights.shape == (1, 1) and small.columns.tolist() == [0]
    mine = items[items["uid"] == 1]
    assert ranker.score(small, mine, as_of, 3, exclude=mine).empty
    text = recommend.reason_text(recommend.SIMILAR, -1, -1, None)  # type: ignore[arg-type]
    assert text == "popular now"


def test_buy_again_prefers_frequent_recent() -> None:
    as_of = 100 * DAY
    items = _items([(1, 0, codes.PURCHASE, 90), (1, 1, codes.PURCHASE, 2)], as_of)
    items.loc[0, "n"] = 2
    assert ranker.buy_again(items, as_of, 5)["pcode"].tolist() == [1, 0]


def test_evaluate_and_report(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    # Two taste groups buying inside their group over 100 days.
    rows = []
    for u in range(200):
        group = u % 2
        for d in np.sort(rng.uniform(0, 100, 8)):
            rows.append((u, int(group * 20 + rng.integers(0, 20)), float(d)))
    result = evaluate(_rows(*rows), tune_baselines=False)
    assert set(result.models) == MODELS
    engine, popular = result.models["engine"], result.models["most_popular"]
    assert engine["ndcg@10"] > popular["ndcg@10"] and engine["fit_s"] >= 0
    path = tmp_path / "out" / "eval.json"
    report.write_json(result, str(path))
    saved = json.loads(path.read_text())
    # Taste groups: something personal (neighbours or the ranker) beats the popular list.
    assert saved["served"] in {"item_neighbours", "engine"}
    assert "recall@20" in saved["models"]["ease"]
    assert saved["choice"]["served"] in {"ranker", *tuning.BASELINES}
    assert set(saved["groups"]) == MODELS
    # The groups (by train interactions) partition the evaluated users.
    groups = saved["groups"]["engine"].values()
    assert sum(g["users"] for g in groups) == saved["split"]["evaluated_users"] > 0
    report.write_html(result, str(tmp_path / "eval.html"))
    page = (tmp_path / "eval.html").read_text()
    assert "<h2>NDCG@10</h2>" in page and "Tuning trace" in page and "By user group" in page
    assert "NDCG@10" in report.table(result) and "ndcg@10 by group" in report.table(result)


MODELS = {
    "most_popular", "category_popular", "item_neighbours", "item_cosine", "ease",
    "engine_defaults", "engine",
}


def _shared_data(name: str) -> Path:
    for root in (Path("/work/shared/data"), Path(__file__).parents[3] / "shared" / "data"):
        if (root / name).exists():
            return root / name
    pytest.skip(f"../shared/data/{name} is not present (real datasets are not shipped)")


def test_online_retail_import_and_served_ranker_beats_ease() -> None:
    from profile_engine.importers import online_retail

    path = _shared_data("online-retail") / "online_retail.csv.gz"
    frames, events = online_retail.to_engine(online_retail.read(str(path)))
    assert len(events) == 396_337 and len(frames["products"]) == 3_659
    assert frames["products"]["category"].nunique() > 20
    product = pd.Index(frames["products"]["product_id"])
    inter = pd.DataFrame(
        {
            "uid": events["user_id"].astype("int64").to_numpy(),
            "pcode": product.get_indexer(events["product_id"]),
            "ts": events["ts"].to_numpy(),
            "etype": codes.PURCHASE,
        }
    )
    s = split.temporal_split(inter)
    assert (s.n_users, s.n_items, len(s.eval_users)) == (3_926, 3_609, 1_420)
    engine = run.score_model(compared_models.EngineRanker(), s)
    assert engine["ndcg@10"] >= 0.11 and engine["coverage@10"] >= 0.25


def test_taobao_import(tmp_path: Path) -> None:
    from profile_engine.importers import taobao

    path = _shared_data("taobao-userbehavior-sample") / "UserBehavior.csv"
    frames, events = taobao.to_engine(pd.read_csv(path, header=None, names=taobao.COLUMNS))
    assert len(events) == 10_000 and events["user_id"].nunique() == 114
    assert events["event_type"].value_counts()["view"] == 9_046
    assert frames["products"]["category"].str.startswith("cat-").all()


def test_engine_on_the_cluster_matches_in_process(scheduler_address: str) -> None:
    """The evaluation's engine ranker on Dask (as the job runs it) gives the same lists."""
    from distributed import Client

    rng = np.random.default_rng(5)
    rows = [
        (u, int((u % 3) * 15 + rng.integers(0, 15)), float(d))
        for u in range(150)
        for d in rng.uniform(0, 60, 6)
    ]
    s = split.temporal_split(_rows(*rows))
    local = compared_models.EngineRanker()
    local.fit(s.train, s.n_users, s.n_items)
    with Client(scheduler_address) as client:
        remote = compared_models.EngineRanker(client=client)
        remote.fit(s.train, s.n_users, s.n_items)
        np.testing.assert_array_equal(
            remote.recommend(s.eval_users, 10), local.recommend(s.eval_users, 10)
        )


def test_evaluate_command_writes_the_table(
    tmp_path: Path, scheduler_address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from profile_engine import cli, synthetic

    shop = synthetic.generate(users=300, products=60, days=14, seed=4)
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    synthetic.write_tables(shop, url)
    synthetic.write_events(shop.events, str(tmp_path / "events"), {})
    out = tmp_path / "eval.json"
    args = ["evaluate", "--events", str(tmp_path / "events"), "--replica-url", url]
    args += ["--scheduler", scheduler_address, "--json", str(out), "--no-tune"]
    assert cli.main(args) == 0
    printed = capsys.readouterr().out
    saved = json.loads(out.read_text())
    assert "NDCG@10" in printed and f"{saved['served']} *" in printed and "buy again" in printed
    assert "model choice: " in printed and saved["choice"]["trials"]
    assert set(saved["models"]) == MODELS and saved["served"] in MODELS
    for m in saved["models"].values():
        assert {"precision@10", "recall@20", "ndcg@10", "coverage@10", "fit_s"} <= set(m)


def test_groups_of_any_ids_are_distinct_items_per_sorted_user() -> None:
    """split._groups takes hashed user keys (any int64, negative too) as well as dense codes."""
    rng = np.random.default_rng(3)
    keys = rng.integers(-(2**62), 2**62, 40)
    u = keys[rng.integers(0, 40, 2_000)]
    i = rng.integers(0, 300, 2_000).astype(np.int32)
    users, items = split._groups(u, i)
    np.testing.assert_array_equal(users, np.unique(u))
    for user, got in zip(users, items, strict=True):
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, np.unique(i[u == user]))
    empty_users, empty_items = split._groups(u[:0], i[:0])
    assert len(empty_users) == 0 and empty_items == []


def test_split_set_helpers_equal_numpy() -> None:
    rng = np.random.default_rng(4)
    keys = rng.integers(0, 5_000, 3_000)
    of = rng.integers(0, 5_000, 10_000)
    np.testing.assert_array_equal(split._member(keys, of), np.isin(keys, of))
    assert not split._member(keys, of[:0]).any() and len(split._member(keys[:0], of)) == 0
    np.testing.assert_array_equal(split._distinct(of), np.unique(of))
    assert len(split._distinct(of[:0])) == 0
