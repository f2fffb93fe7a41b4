"""The console's pure parts: masking, tokens, the live figures' arithmetic, chart data."""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest
from prometheus_client import generate_latest

from loopback.console import history
from recsvc.console.auth import User, check_token
from recsvc.console.masking import mask_email
from recsvc.console.pages.charts import counts_chart, quality_chart, segment_chart
from recsvc.console.readers.metrics import _p99, live_figures
from recsvc.console.readers.scrape import Sample, parse
from recsvc.console.settings import ConsoleSettings, parse_tokens
from recsvc.metrics import Metrics

RECOMMEND = "/recsvc.api.v1.Recommender/Recommend"


@pytest.mark.parametrize(("address", "masked"), [
    ("jane.doe@example.com", "j***@e***.com"),
    ("a@b.co.uk", "a***@b***.uk"),
    ("x@localhost", "x***@l***"),
    ("", ""),
    ("not-an-address", "***"),
    ("@example.com", "***"),
])
def test_addresses_are_masked(address: str, masked: str) -> None:
    assert mask_email(address) == masked
    assert address.partition("@")[0][1:] == "" or address not in mask_email(address)


def test_tokens_map_names_to_roles_and_keep_only_digests() -> None:
    tokens = parse_tokens("ann:admin:" + "a" * 16 + ", bob:viewer:" + "b" * 20)
    assert [(t.name, t.role) for t in tokens] == [("ann", "admin"), ("bob", "viewer")]
    assert tokens[1].digest == hashlib.sha256(b"b" * 20).digest()
    assert check_token(tokens, "b" * 20) == tokens[1]
    assert check_token(tokens, "b" * 19) is None
    assert check_token(tokens, "") is None


@pytest.mark.parametrize(("value", "message"), [
    ("ann:admin", "entry 1 is not name:role:token"),
    ("ann:root:" + "a" * 16, "role 'root'"),
    ("ann:admin:short", "at least 16 characters"),
    ("ann:admin:" + "a" * 16 + ",ann:viewer:" + "b" * 16, "must be unique"),
])
def test_bad_tokens_are_refused_at_start_without_showing_them(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as err:
        ConsoleSettings(tokens=value)
    assert "a" * 16 not in str(err.value) and "short" not in str(err.value)


def test_roles_include_the_roles_below_them() -> None:
    assert User("a", "admin").can("marketer") and User("a", "admin").can("viewer")
    assert User("m", "marketer").can("viewer") and not User("m", "marketer").can("admin")
    assert not User("v", "viewer").can("marketer")


def _sample(at: float, calls: dict[tuple[str, str, str], float],
            buckets: dict[float, float], cache: dict[str, float]) -> Sample:
    s = Sample(at)
    s.calls.update(calls)
    s.latency[RECOMMEND].update(buckets)
    s.cache.update(cache)
    s.endpoints = 1
    return s


def test_live_figures_are_rates_between_the_window_s_ends() -> None:
    inf = float("inf")
    old = _sample(0.0, {(RECOMMEND, "OK", "cache"): 100, (RECOMMEND, "OK", "fallback"): 10},
                  {0.001: 50, 0.01: 100, inf: 110}, {"hits": 80, "misses": 20})
    new = _sample(10.0, {(RECOMMEND, "OK", "cache"): 190, (RECOMMEND, "OK", "fallback"): 20},
                  {0.001: 100, 0.01: 200, inf: 210}, {"hits": 150, "misses": 30})
    f = live_figures(old, new)
    assert f.calls_per_s == pytest.approx(10.0)
    assert f.fallback_share == pytest.approx(0.1)
    assert f.cache_hit_ratio == pytest.approx(70 / 80)
    # The window's 100 calls: 50 under 1 ms, 50 more under 10 ms; the 99th is near 10 ms.
    assert f.p99_ms == pytest.approx(1.0 + 9.0 * 49 / 50)


def test_a_restarted_service_counts_from_zero() -> None:
    old = _sample(0.0, {(RECOMMEND, "OK", "store"): 1000}, {}, {})
    new = _sample(5.0, {(RECOMMEND, "OK", "store"): 50}, {}, {})
    figures = live_figures(old, new)
    assert figures.calls_per_s == pytest.approx(10.0)
    assert figures.p99_ms is None and figures.cache_hit_ratio is None


def test_p99_interpolates_inside_its_bucket() -> None:
    assert _p99({0.01: 0, 0.02: 100, float("inf"): 100}) == pytest.approx(0.0199)
    assert _p99({}) is None


def test_the_service_s_own_exposition_is_read() -> None:
    metrics = Metrics()
    for seconds in (0.0004, 0.0004, 0.003):
        metrics.observe(RECOMMEND, "OK", "cache", seconds)
    metrics.add_domain({"cache": lambda: Counter(hits=4, misses=1)}, lambda: "G1")
    text = generate_latest(metrics.registry).decode()
    s = Sample(0.0)
    parse(text, s)
    parse(text, s)  # a second endpoint adds up
    assert s.calls[(RECOMMEND, "OK", "cache")] == 6
    assert s.latency[RECOMMEND][0.0005] == 4 and s.latency[RECOMMEND][float("inf")] == 6
    assert s.cache["hits"] == 8 and s.endpoints == 2


def test_charts_run_oldest_to_newest_with_gaps_for_missing_segments() -> None:
    summaries = list(reversed(history(5, 3, last="G-last")))  # newest first, as read
    quality = quality_chart(summaries)
    assert quality["labels"] == sorted(quality["labels"])
    assert len(quality["series"][0]["data"]) == 5
    assert "catalogue_parts" not in {s["label"] for s in counts_chart(summaries)["series"]}
    sizes = segment_chart(summaries, "high_value")["series"][0]["data"]
    assert sizes[-1] == next(g.size for g in summaries[0].segments if g.name == "high_value")
    assert segment_chart(summaries, "gone")["series"][0]["data"] == [None] * 5
