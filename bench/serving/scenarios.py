"""The scenarios: which server, which settings, which generation and requests, how warmed up.

Two generations live in one moto, each in its own table: the small one (2,000 users, 400
products; serving/generation.py) keeps the meaning of the original rows (a hot set of
1,000 users that fits the L1, every request repeated); the shop-like one (--users,
serving/shop.py) serves the shop-like and home-page mixes (serving/mixes.py).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from loopback.ports import ports_outside_ephemeral
from loopback.processes import Proc
from serving.floor import put_value
from serving.layers import ready
from serving.load import prewarm
from serving.measure import Target
from serving.mixes import MIXES, pool
from serving.payloads import RECOMMEND, recommend_requests
from serving.processes import recsvc_server, started
from serving.shop import ShopSpec

SMALL_TABLE, SHOP_TABLE = "bench", "shop"
# Every in-process layer recsvc's settings can turn off: the L1 of decoded values in front
# of Redis, the memo of finished answers (which needs the L1) and the mirror of shoppers'
# session-memory values (client-side caching; an unknown setting is ignored by a service
# without it). Not switchable, so on in the _remote rows too: the popular lists and the
# catalogue of product facts held in memory per generation, and the memo of context-free
# rankings per profile object (recommender.RANKED_KEPT).
LAYERS_OFF = {"RECSVC_L1_ENTRIES": "0", "RECSVC_L1_ANSWERS": "0",
              "RECSVC_SESSION_MIRROR_ENTRIES": "0"}
FLOOR_KEY = "floor:profile"
# How long a started recsvc may take to load its start-up data before it is restarted.
READY_S = 30.0


@dataclass(frozen=True)
class Scenario:
    """``requests``: hit, context or miss (the small generation) or a mix of MIXES (the
    shop generation); ``server``: recsvc or floor."""

    name: str
    requests: str
    env: dict[str, str] = field(default_factory=dict)
    server: str = "recsvc"

    @property
    def shop(self) -> bool:
        return self.requests in MIXES

    @property
    def table(self) -> str:
        return SHOP_TABLE if self.shop else SMALL_TABLE


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("recommend_hit", "hit", {"RECSVC_CACHE": "redis"}),
    Scenario("recommend_hit_no_memo", "hit", {"RECSVC_CACHE": "redis", "RECSVC_L1_ANSWERS": "0"}),
    Scenario("recommend_hit_redis", "hit", {"RECSVC_CACHE": "redis", "RECSVC_L1_ENTRIES": "0"}),
    Scenario("recommend_context", "context", {"RECSVC_CACHE": "redis"}),
    Scenario("recommend_miss", "miss", {"RECSVC_CACHE": "none"}),
    Scenario("shop_like", "shop_like", {"RECSVC_CACHE": "redis"}),
    Scenario("shop_like_remote", "shop_like", {"RECSVC_CACHE": "redis", **LAYERS_OFF}),
    Scenario("home_page", "home_page", {"RECSVC_CACHE": "redis"}),
    Scenario("home_page_remote", "home_page", {"RECSVC_CACHE": "redis", **LAYERS_OFF}),
    Scenario("floor", "shop_like", server="floor"),
)


def chosen(only: list[str] | None) -> list[Scenario]:
    unknown = set(only or ()) - {s.name for s in SCENARIOS} - {"echo"}
    if unknown:
        raise SystemExit(f"unknown scenarios {sorted(unknown)}; "
                         f"known: {[s.name for s in SCENARIOS]}")
    return [s for s in SCENARIOS if not only or s.name in only]


@cache
def _pool(mix: str, users: int, warm: bool) -> list[bytes]:
    return pool(mix, ShopSpec(users), warm)


def requests(s: Scenario, users: int) -> list[bytes]:
    """The measured requests of ``s``."""
    return _pool(s.requests, users, False) if s.shop else recommend_requests(s.requests)


def warm_pool(s: Scenario, args: argparse.Namespace) -> list[bytes]:
    """The requests warm_up sends to a shop row."""
    return _pool(s.requests, args.users, True)[:args.warm_calls] if s.shop else []


def warm_up(s: Scenario, target: str, args: argparse.Namespace) -> int:
    """Bring a fresh server to its steady state; how many calls that took. Small
    generation: every request once (not for miss). Shop mixes: --warm-calls requests of
    an independent draw of the same mix (the hot users and products, not the measured
    requests' order)."""
    if s.server == "floor" or s.requests == "miss":
        return 0
    payloads = (_pool(s.requests, args.users, True)[:args.warm_calls] if s.shop
                else recommend_requests(s.requests))
    prewarm(target, RECOMMEND, payloads)
    return len(payloads)


def cache_prefix(s: Scenario, run_prefix: str) -> str:
    """Each shop row its own (it starts from its own prefill and warm-up, whatever ran
    before it); the small-generation rows share one, as they did."""
    return f"{run_prefix}-{s.name}" if s.shop else run_prefix


def recsvc_env(s: Scenario, base: dict[str, str], metrics_port: int,
               run_prefix: str) -> dict[str, str]:
    """recsvc's settings for ``s``: the shared ones, its table, its metrics port, its
    cache prefix."""
    return {**base, "RECSVC_TABLE": s.table, "RECSVC_METRICS_PORT": str(metrics_port),
            "RECSVC_CACHE_PREFIX": cache_prefix(s, run_prefix), **s.env}


@contextmanager
def serving(s: Scenario, base: dict[str, str], args: argparse.Namespace,
            server_cpus: set[int] | None, redis_url: str, run_prefix: str,
            ) -> Iterator[Target]:
    """The scenario's server, started (and stopped on the way out)."""
    if s.server == "floor":
        from generation import payloads
        from serving.shop import Catalogue, profile

        # A real profile of the shop generation (user 0), as the store holds it.
        put_value(redis_url, FLOOR_KEY,
                  payloads.encode_profile(profile(Catalogue(ShopSpec(args.users)), 0)))
        port = ports_outside_ephemeral() if args.workers > 1 else 0
        proc = Proc([sys.executable, str(Path(sys.argv[0]).resolve()), "--floor-server",
                     str(port), "--floor-redis", redis_url, "--workers", str(args.workers),
                     "--loop", args.loop], {}, "floor", server_cpus)
        with started(proc):
            found = proc.wait_for(r"floor listening on (\S+)").group(1)
            yield Target(f"127.0.0.1:{port}" if port else found, "/bench.Echo/Echo")
        return
    for attempt in (1, 2):
        metrics_port = ports_outside_ephemeral(args.workers)
        env = recsvc_env(s, base, metrics_port, run_prefix)
        with started(recsvc_server(s.name, env, server_cpus)) as proc:
            address = proc.wait_for(r"recsvc listening on (\S+)").group(1)
            urls = [f"http://127.0.0.1:{metrics_port + n}/metrics" for n in range(args.workers)]
            warm = ready(urls, READY_S)
            if not warm and attempt == 1:
                print(f"  {s.name}: start-up data not loaded in {READY_S:.0f}s; restarting",
                      flush=True)
                continue
            yield Target(address, RECOMMEND, urls, ready=warm)
            return
