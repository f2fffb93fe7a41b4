"""Benchmark: recsvc's Recommend against a bare grpc.aio echo server, same process model.

One run starts moto (DynamoDB) and a dedicated redis-server, publishes two generations
through the batch job's writer (profile_engine.publish.publish), each in its own table,
then starts `python -m recsvc serve` (several configurations), a bare grpc.aio echo
server and the floor server, all with the same process model (workers, event loop,
SO_REUSEPORT, CPU pinning). A load generator (several client processes, grpc.aio, closed
loop, fixed concurrency) drives each for --seconds, in --rounds slices that alternate
with slices on echo (so a neighbour's load on a shared machine hits both sides of the
ratio alike), and prints QPS, p50, p99 and p99.9 per scenario and each one's ratio to
the echo slices measured alongside it.

The small generation (2,000 users, 400 products), the original rows, their meaning kept:

    recommend_hit          known users, repeated requests: answered from the memo of
                           finished answers (RECSVC_L1_ANSWERS), profile in the L1/Redis
    recommend_hit_no_memo  the same with the answer memo off: L1 lookups + ranking per call
    recommend_hit_redis    the same with the L1 off (so the memo too): every lookup is a
                           Redis MGET
    recommend_context      the hot users with a viewed product and a cart: re-ranking by
                           their neighbours (its 1,000 requests repeat, so once warm the
                           answer memo gives them again: see the memo column)
    recommend_miss         caching off: profile and item facts from DynamoDB every call

The shop-like generation (--users, default 100,000; products --users/5 in 40 categories,
50 recommendations with reasons per profile, 20 neighbours per product; serving/shop.py),
requests from pools of 50,000 (serving/mixes.py), each row on its own cache prefix, that
prefix's Redis prefilled as a fleet serving the shop for a while holds it (every named
user's profile or negative entry, every product's neighbours; serving/prefill.py;
--cold-cache: empty), then warmed up by --warm-calls requests of an independent draw of
its mix (the in-process layers):

    shop_like              the shop-like mix: Zipf users, 15% unknown to the job, 55% with a
                           viewed product, 15% a cart, a third a category, k 4..12
    shop_like_remote       the same with the in-process layers off (RECSVC_L1_ENTRIES=0,
                           RECSVC_L1_ANSWERS=0, RECSVC_SESSION_MIRROR_ENTRIES=0): each
                           lookup goes to Redis (popular lists and the catalogue stay
                           in memory: no setting turns them off)
    home_page              known users (Zipf), no context, no category, k=10
    home_page_remote       the same, in-process layers off
    floor                  echo + ONE Redis GET of a real profile (redis.asyncio, hiredis)
                           per call, shop_like's requests: the one-round-trip floor
    echo                   bare grpc.aio unary echo (bytes in, the same bytes out)

After the table, a second one says which layer answered, counted over each row's measured
slices (recsvc's /metrics, the run's redis-server's commandstats): memo = answers given
again from the answer memo per call; L1 / Redis / store = shares of the cache-aside key
lookups (profile, neighbours, facts, popular list) answered by the in-process L1, by
Redis, fetched from DynamoDB; lookups and Redis reads (GET+MGET, session memory included)
per call; the answers' sources. --json writes the rows (a list, as before) with all of
it, raw counters, generation and request pool included.

Pinning (when the machine has >= 2 cores and --no-pin is not given): servers run on the
upper half of the cores, client processes on the lower half (sched_setaffinity before
exec / before grpc starts its threads). moto and redis-server are not pinned. moto is
far slower than DynamoDB per request: read recommend_miss and the store share of the
shop rows as lower bounds.

Requests and responses cross the client as raw bytes (pre-serialized requests; every
64th response is parsed to tally its source), so client cost is the same for every
scenario.

Run time: publishing the shop generation takes about a minute per 100,000 users; each
row then costs its warm-up plus 2 x --seconds of load (its slices and echo's) plus about
2 s of client start-up per slice pair (--rounds); the default run takes ~10 minutes.
Quicker: --seconds 4 --rounds 2, or --only some rows (the generations they do not need
are not published).

    .venv/bin/python bench/serve.py [--seconds 8] [--rounds 4] [--users 100000]
        [--warm-calls 10000] [--concurrency 8] [--clients 2] [--workers 1]
        [--loop uvloop|asyncio] [--only NAME ...] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/serve.py` from a checkout
    sys.path.insert(0, str(ROOT))

from serving.echo import echo_main  # noqa: E402
from serving.floor import floor_main  # noqa: E402
from serving.generation import N_PRODUCTS, N_USERS, publish_generation  # noqa: E402
from serving.load import merge  # noqa: E402
from serving.measure import Echo, measure  # noqa: E402
from serving.mixes import describe  # noqa: E402
from serving.payloads import recommend_requests  # noqa: E402
from serving.prefill import prefill  # noqa: E402
from serving.processes import cpu_split, started  # noqa: E402
from serving.report import print_layers, print_table, summarize  # noqa: E402
from serving.scenarios import (  # noqa: E402
    FLOOR_KEY,
    SHOP_TABLE,
    SMALL_TABLE,
    Scenario,
    cache_prefix,
    chosen,
    requests,
    serving,
    warm_pool,
    warm_up,
)
from serving.shop import ShopSpec, shop_data  # noqa: E402
from serving.stack import AWS  # noqa: E402

from loopback.ports import free_port, ports_outside_ephemeral  # noqa: E402
from loopback.processes import Proc  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=8.0,
                        help="measured seconds per row (its echo slices as many again)")
    parser.add_argument("--rounds", type=int, default=4,
                        help="slices per row, alternated with echo slices")
    parser.add_argument("--warmup", type=float, default=0.5,
                        help="unmeasured seconds at the start of each slice")
    parser.add_argument("--users", type=int, default=100_000,
                        help="users of the shop-like generation (products: a fifth as many)")
    parser.add_argument("--cold-cache", action="store_true",
                        help="shop rows start from an empty Redis (default: prefilled with "
                        "every named user's profile and every product's neighbours)")
    parser.add_argument("--warm-calls", type=int, default=10_000,
                        help="calls warming each shop row's fresh server up (another draw)")
    parser.add_argument("--concurrency", type=int, default=8, help="calls in flight, in total")
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--workers", type=int, default=1, help="server processes (SO_REUSEPORT)")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--no-pin", action="store_true", help="do not pin to cores")
    parser.add_argument("--access-log", action="store_true",
                        help="keep recsvc's per-call access log on (off: metrics only)")
    parser.add_argument("--only", nargs="*", help="run only these scenarios (echo always runs)")
    parser.add_argument("--json", type=Path, help="write the table here as JSON")
    parser.add_argument("--echo-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--floor-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--floor-redis", help=argparse.SUPPRESS)
    return parser.parse_args()


def service_env(args: argparse.Namespace, endpoint: str, redis_port: int) -> dict[str, str]:
    """recsvc's settings shared by every scenario (scenarios.recsvc_env adds the rest)."""
    env = {
        "RECSVC_HOST": "127.0.0.1", "RECSVC_PORT": "0",
        "RECSVC_DYNAMODB_ENDPOINT_URL": endpoint, "RECSVC_REDIS_URL":
        f"redis://127.0.0.1:{redis_port}/0", "RECSVC_WORKERS": str(args.workers),
        "RECSVC_EVENT_LOOP": args.loop, "RECSVC_LOG_LEVEL": "WARNING",
        "RECSVC_ACCESS_LOG": "true" if args.access_log else "false",
        "RECSVC_GRACE_S": "2", "RECSVC_DRAIN_DELAY_S": "0",
    }
    if args.workers > 1:
        env["RECSVC_PORT"] = str(ports_outside_ephemeral())
    return env


def publish(endpoint: str, scenarios: list[Scenario], args: argparse.Namespace,
            ) -> dict[str, Any]:
    """Publish the generations the chosen scenarios need; what was published, how fast."""
    out: dict[str, Any] = {}
    if any(s.server == "recsvc" and not s.shop for s in scenarios):
        small = publish_generation(endpoint, SMALL_TABLE)
        out["small"] = {"generation": small.generation, "users": N_USERS,
                        "products": N_PRODUCTS, "publish_s": round(small.seconds, 1)}
    if any(s.server == "recsvc" and s.shop for s in scenarios):
        spec = ShopSpec(args.users)
        shop = publish_generation(endpoint, SHOP_TABLE, shop_data(spec))
        out["shop"] = {"generation": shop.generation, "users": spec.users,
                       "products": spec.products, "categories": len(spec.categories),
                       "publish_s": round(shop.seconds, 1)}
    for name, g in out.items():
        print(f"published the {name} generation {g['generation']} ({g['users']} users, "
              f"{g['products']} products) in {g['publish_s']:.1f}s "
              "(building included)", flush=True)
    return out


def main() -> None:
    args = parse_args()
    if args.echo_server is not None:
        echo_main(args.echo_server, args.workers, args.loop)
        return
    if args.floor_server is not None:
        floor_main(args.floor_server, args.workers, args.loop, args.floor_redis, FLOOR_KEY)
        return

    scenarios = chosen(args.only)
    started_at = time.perf_counter()
    server_cpus, client_cpus = cpu_split(not args.no_pin)
    os.environ.update(AWS)
    rows: list[dict[str, Any]] = []
    with ExitStack() as stack:
        moto_port, redis_port = free_port(), free_port()
        moto = stack.enter_context(started(Proc(
            [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1",
             "-p", str(moto_port)], {}, "moto")))
        redis = stack.enter_context(started(Proc(
            ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], {}, "redis")))
        moto.wait_for(r"Running on")
        redis.wait_for(r"Ready to accept connections")
        endpoint = f"http://127.0.0.1:{moto_port}"
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
        generations = publish(endpoint, scenarios, args)
        print(f"pinning: servers on cores {sorted(server_cpus) if server_cpus else 'any'}, "
              f"clients on {sorted(client_cpus) if client_cpus else 'any'}; "
              f"{args.clients} client processes, {args.concurrency} in flight, "
              f"{args.workers} server process(es), {args.loop}", flush=True)

        base = service_env(args, endpoint, redis_port)
        echo_port = ports_outside_ephemeral() if args.workers > 1 else 0
        echo_proc = stack.enter_context(started(Proc(
            [sys.executable, str(Path(__file__).resolve()), "--echo-server", str(echo_port),
             "--workers", str(args.workers), "--loop", args.loop], {}, "echo", server_cpus)))
        found = echo_proc.wait_for(r"echo listening on (\S+)")
        echo = Echo(f"127.0.0.1:{echo_port}" if echo_port else found.group(1),
                    recommend_requests("hit"))
        echo_slices: list[dict[str, Any]] = []
        pools: dict[str, Any] = {}
        for s in scenarios:
            payloads = requests(s, args.users)
            if s.shop and s.requests not in pools:
                pools[s.requests] = describe(payloads)
                print(f"pool {s.requests}: {pools[s.requests]}", flush=True)
            run_prefix = f"bench{os.getpid()}"
            with serving(s, base, args, server_cpus, redis_url, run_prefix) as target:
                if s.shop and s.server == "recsvc" and not args.cold_cache:
                    filled = prefill(redis_url, cache_prefix(s, run_prefix),
                                     generations["shop"]["generation"], ShopSpec(args.users),
                                     [payloads, warm_pool(s, args)])
                    print(f"  {s.name}: Redis prefilled {filled}", flush=True)
                warmed_at = time.perf_counter()
                warm = warm_up(s, target.address, args)
                warm_s = time.perf_counter() - warmed_at
                row, paired = measure(s.name, target, payloads, echo, args, client_cpus,
                                      redis_url)
            row.update(warm_calls=warm, warm_s=round(warm_s, 1))
            if s.server == "recsvc":
                row["generation"] = generations["shop" if s.shop else "small"]
            if s.shop:
                row["pool"] = pools[s.requests]
            rows.append(row)
            echo_slices.extend(paired)
        echo_row = summarize("echo", merge(echo_slices))
        echo_row.update(ratio_qps_vs_echo=1.0, ratio_p99_vs_echo=1.0,
                        echo_qps_paired=echo_row["qps"])
        rows.append(echo_row)

    print_table(rows)
    print()
    print_layers(rows)
    print(f"\ntotal {time.perf_counter() - started_at:.0f}s", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
