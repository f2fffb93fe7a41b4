"""The model each shop gets: tuned on its own validation split, and never a ranker that loses
to a simple baseline there. The guard runs end to end: a shop whose customers buy only the
best-sellers gets the popular list, and the published manifest says so."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from generation import layout, payloads
from profile_engine import pipeline, synthetic, tuning
from profile_engine.compute.ranker import RankerParams
from profile_engine.evaluation import data as eval_data
from profile_engine.settings import EngineSettings
from profile_engine.tuning import space
from tests.profile_engine.published_items import generation_items

BEST_SELLERS = 8


def bestseller_shop(seed: int) -> synthetic.Shop:
    """A generated shop whose every view, cart add and order line is one of its best-sellers,
    drawn with fixed (Zipf) odds whoever the shopper: nothing personal to learn."""
    shop = synthetic.generate(users=300, products=60, days=21, seed=seed)
    rng = np.random.default_rng(seed)
    best = shop.products["product_id"].to_numpy(dtype=object)[:BEST_SELLERS]
    odds = 1.0 / np.arange(1, BEST_SELLERS + 1)
    odds /= odds.sum()
    events = shop.events.copy()
    about = events["product_id"].notna().to_numpy()
    events.loc[about, "product_id"] = rng.choice(best, size=int(about.sum()), p=odds)
    lines = shop.order_items.copy()
    lines["product_id"] = rng.choice(best, size=len(lines), p=odds)
    lines = lines.drop_duplicates(["order_id", "product_id"])
    return replace(shop, events=events, order_items=lines)


def _write(shop: synthetic.Shop, tmp_path: Path) -> dict[str, str]:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    synthetic.write_tables(shop, url)
    synthetic.write_events(shop.events, str(tmp_path / "events"), {})
    return {"events": str(tmp_path / "events"), "replica_url": url}


def test_a_shop_that_buys_only_best_sellers_is_served_the_popular_list(
    tmp_path: Path, scheduler_address: str, moto_endpoint: str, moto_table: str
) -> None:
    settings = EngineSettings(
        **_write(bestseller_shop(seed=6), tmp_path),
        scheduler=scheduler_address,
        table=moto_table,
        dynamodb_endpoint_url=moto_endpoint,
        tuning_budget_s=0,  # the first round only: what the guard needs, and deterministic
    )
    report = pipeline.run(settings)
    assert report.generation, report.format()
    assert report.model is not None and report.model.served == "most_popular", report.model
    reason = report.model.reason
    assert "did not beat most_popular by more than a standard error" in reason, reason
    assert "model       most_popular: " in report.format()
    assert {t.name for t in report.model.trials} == {"ranker", *tuning.BASELINES}

    items = generation_items(moto_endpoint, moto_table, report.generation)
    [manifest] = [
        payloads.decode_manifest(layout.payload(i)) for i in items if i["sk"]["S"] == "manifest"
    ]
    assert manifest.model is not None and manifest.model.served == "most_popular"
    assert manifest.model.reason == report.model.reason
    assert len(manifest.model.trials) == len(report.model.trials) >= 5
    # The gate figures are the served baseline's, on the test split.
    assert manifest.metrics["ndcg@10"] > 0

    [overall] = [
        payloads.decode_popular(layout.payload(i))
        for i in items
        if i["pk"]["S"].endswith("#popular") and i["sk"]["S"] == "cat#"
    ]
    popular = [i.product_id for i in overall.items]
    profiles = [
        payloads.decode_profile(layout.payload(i)) for i in items if i["sk"]["S"] == "profile"
    ]
    assert len(profiles) > 100
    for p in profiles:
        # The popular list in its order, minus what the shopper bought: nothing personal.
        expected = [pid for pid in popular if pid not in set(p.purchased)]
        got = [i.product_id for i in p.recommendations]
        assert got == expected[: len(got)] and got, (p.user_id, got, expected)
        assert {i.reason for i in p.recommendations} == {"popular now"}


def test_a_shop_with_co_purchases_is_served_the_tuned_ranker(tmp_path: Path) -> None:
    shop = synthetic.generate(users=2000, products=200, days=30, seed=3)
    frame = _interactions(shop)
    cats = _categories(shop)
    choice = tuning.choose(frame, cats, RankerParams(), budget_s=30.0)
    assert choice.served == "ranker" and choice.ranked, choice.reason
    assert choice.reason.startswith("ranker: ") and " beat category_popular" in choice.reason, (
        choice.reason
    )
    names = [o.candidate.name for o in choice.outcomes]
    # Round 0: both families at their defaults, then every baseline; then tuning rounds.
    assert names[:5] == ["ranker", "ranker", *tuning.BASELINES]
    assert len(names) > 5
    best = max(o.ndcg for o in choice.outcomes if o.candidate.name == "ranker")
    assert choice.record().settings == choice.params.describe()
    assert any(o.ndcg == best and o.candidate.params == choice.params for o in choice.outcomes)
    # Views and cart adds are in this shop's input, so their weights were tuned.
    tuned = {k for o in choice.outcomes[5:] for k, v in o.candidate.settings().items()
             if v != choice.outcomes[0].candidate.settings().get(k)}
    assert {"view_weight", "cart_weight"} <= tuned or not choice.outcomes[5:]
    # Later rounds rank the selecting users only; the guard judged the winner on all of them.
    assert all(np.isnan(o.per_user).any() for o in choice.outcomes[5:])
    assert not any(np.isnan(o.per_user).any() for o in choice.outcomes[:5])
    assert "nan" not in choice.reason


def test_trials_on_either_half_of_the_users_make_the_full_one() -> None:
    from profile_engine.evaluation.split import validation_split
    from profile_engine.tuning import trials
    from profile_engine.tuning.choose import _merged

    shop = synthetic.generate(users=600, products=80, days=30, seed=8)
    split = validation_split(_interactions(shop))
    assert split is not None and len(split.eval_users) > 10
    select = np.arange(len(split.eval_users)) % 3 != 0
    cats = _categories(shop)
    for candidate in (trials.Candidate.ranker(RankerParams()),
                      trials.Candidate.baseline("category_popular")):
        full = trials.run(split, candidate, cats, select)
        part = trials.run(split, candidate, cats, select, users=trials.SELECTING)
        assert part.ndcg == full.ndcg
        np.testing.assert_array_equal(part.per_user[select], full.per_user[select])
        assert np.isnan(part.per_user[~select]).all()
        rest = trials.run(split, candidate, cats, select, users=trials.HELD_OUT)
        np.testing.assert_array_equal(rest.per_user[~select], full.per_user[~select])
        assert np.isnan(rest.per_user[select]).all() and np.isnan(rest.ndcg)
        # The guard's view of a search's winner: both trials together are the full one.
        both = _merged(part, rest, ~select)
        np.testing.assert_array_equal(both.per_user, full.per_user)
        assert both.ndcg == full.ndcg


def test_no_budget_keeps_the_first_round_and_the_guard() -> None:
    shop = synthetic.generate(users=400, products=60, days=21, seed=4)
    choice = tuning.choose(_interactions(shop), _categories(shop), RankerParams(), budget_s=0.0)
    assert len(choice.outcomes) == 2 + len(tuning.BASELINES)
    assert choice.record().budget_s == 0.0


def test_a_shop_too_small_to_split_keeps_the_defaults() -> None:
    frame = pd.DataFrame({"uid": [1, 1], "pcode": [0, 1], "ts": [1, 2], "etype": [2, 2]})
    choice = tuning.choose(eval_data.as_frame(frame), np.zeros(2, np.int32), RankerParams(), 10)
    assert choice.served == "ranker" and choice.params == RankerParams()
    assert "no evaluated users" in choice.reason


def test_large_catalogues_try_only_the_sparse_family() -> None:
    defaults = RankerParams()
    assert [p.family for p in space.first_round(defaults, space.MAX_DENSE_ITEMS + 1)] == ["knn"]
    ease, knn = space.first_round(defaults, 3_000)
    assert (ease.family, knn.family) == ("ease", "knn") and ease.max_items >= 3_000
    tuned = [name for name, _ in space.settings_of("knn", 50_000, False, True)]
    assert "view_weight" not in tuned and "cart_weight" in tuned and "lam" not in tuned
    assert tuned[0] == "knn_neighbours"


def _interactions(shop: synthetic.Shop) -> pd.DataFrame:
    """The shop's events as the evaluation's coded rows (uid, pcode, ts, etype)."""
    from profile_engine.compute import codes

    ev = shop.events[shop.events["event_type"].isin(list(codes.WEIGHTS))]
    ev = ev[ev["product_id"].notna() & ev["user_id"].notna()]
    ids = pd.Index(sorted(shop.products["product_id"].astype(str)))
    frame = pd.DataFrame(
        {
            "uid": codes.user_keys(ev["user_id"]),
            "pcode": ids.get_indexer(ev["product_id"].astype(str)),
            "ts": ev["ts"].to_numpy(np.int64),
            "etype": ev["event_type"].map(codes.EVENT_TYPES).to_numpy(np.int8),
        }
    )
    return eval_data.as_frame(frame[frame["pcode"] >= 0].sort_values("ts", kind="stable"))


def _categories(shop: synthetic.Shop) -> np.ndarray:
    products = shop.products.assign(product_id=shop.products["product_id"].astype(str))
    products = products.sort_values("product_id")
    return pd.factorize(products["category"], sort=True)[0].astype(np.int32)


def test_a_handful_of_validation_users_keeps_the_most_popular_list() -> None:
    shop = synthetic.generate(users=40, products=40, days=14, seed=2)
    choice = tuning.choose(_interactions(shop), _categories(shop), RankerParams(), 10.0)
    assert choice.served == "most_popular" and "too few to prefer any model" in choice.reason
    assert not choice.ranked


def test_failed_trials_fall_back_to_the_defaults_and_say_why(scheduler_address: str) -> None:
    from distributed import Client

    shop = synthetic.generate(users=400, products=60, days=21, seed=4)
    # Category codes for too few products: every trial fails on a worker, as one killed
    # for memory would.
    with Client(scheduler_address) as client:
        choice = tuning.choose(_interactions(shop), np.zeros(1, np.int32), RankerParams(), 5.0,
                               client)
    assert choice.served == "ranker" and choice.params == RankerParams()
    assert "the tuning's first round failed" in choice.reason and "IndexError" in choice.reason


def test_trials_stop_when_no_worker_holds_the_split(scheduler_address: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Trials run only on the workers that hold the split: with all of them gone, the wait
    ends with TrialsFailed instead of waiting for trials no worker can run."""
    import importlib
    import time

    from distributed import Client

    trials_on = importlib.import_module("profile_engine.tuning.cluster_trials")
    monkeypatch.setattr(trials_on, "CHECK_EVERY_S", 0.2)
    with Client(scheduler_address) as client:
        never = client.submit(time.sleep, 30, pure=False)
        # (Had it waited for the task, the wait would have ended without an error.)
        with pytest.raises(trials_on.TrialsFailed, match="every worker holding"):
            trials_on._wait(client, [never], None, ["tcp://127.0.0.1:9"])
        assert never.cancelled()


def test_trials_on_workers_sharing_weights_choose_as_one_process_does(
    scheduler_address: str,
) -> None:
    """On a cluster, a round's trials get the weights they share from the worker that
    fitted them: every trial's figures, and so the choice, are those of one process."""
    from distributed import Client

    shop = synthetic.generate(users=900, products=90, days=30, seed=11)
    frame, cats = _interactions(shop), _categories(shop)
    here = tuning.choose(frame, cats, RankerParams(), budget_s=300.0)
    with Client(scheduler_address) as client:
        there = tuning.choose(frame, cats, RankerParams(), budget_s=300.0, client=client)
    assert len(here.outcomes) > 10  # the search ran its rounds, not only the first
    assert [o.candidate for o in there.outcomes] == [o.candidate for o in here.outcomes]
    for a, b in zip(there.outcomes, here.outcomes, strict=True):
        assert a.ndcg == b.ndcg or (np.isnan(a.ndcg) and np.isnan(b.ndcg)), a.candidate
        np.testing.assert_array_equal(a.per_user, b.per_user)
    assert (there.served, there.params, there.reason) == (here.served, here.params, here.reason)
