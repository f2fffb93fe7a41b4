"""Benchmark: recsvc's Recommend against a bare grpc.aio echo server, same process model.

One run starts moto (DynamoDB) and a dedicated redis-server, publishes a generation
through the batch job's writer, then starts `python -m recsvc serve` (several
configurations) and a bare grpc.aio echo server with the same process model (workers,
event loop, SO_REUSEPORT, CPU pinning). A load generator (several client processes,
grpc.aio, closed loop, fixed concurrency) drives each for --seconds, in --rounds slices
that alternate with slices on echo (so a neighbour's load on a shared machine hits both
sides of the ratio alike), and prints QPS, p50, p99 and p99.9 per scenario and each
one's ratio to the echo slices measured alongside it:

    recommend_hit          known users, repeated requests: answered from the memo of
                           finished answers (RECSVC_L1_ANSWERS), profile in the L1/Redis
    recommend_hit_no_memo  the same with the answer memo off: L1 lookups + ranking per call
    recommend_hit_redis    the same with the L1 off: every lookup is a Redis MGET
    recommend_context      cache hit + re-ranking by viewed product and cart neighbours
    recommend_miss         caching off: profile and item facts from DynamoDB every call
    echo                   bare grpc.aio unary echo (bytes in, the same bytes out)

Pinning (when the machine has >= 2 cores and --no-pin is not given): servers run on the
upper half of the cores, client processes on the lower half (sched_setaffinity before
exec / before grpc starts its threads). moto and redis-server are not pinned. moto is
far slower than DynamoDB per request: read recommend_miss as a lower bound.

Requests and responses cross the client as raw bytes (pre-serialized requests; every
64th response is parsed to tally its source), so client cost is the same for every
scenario.

    .venv/bin/python bench/serve.py [--seconds 10] [--concurrency 8] [--clients 2]
        [--workers 1] [--loop uvloop|asyncio] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/serve.py` from a checkout
    sys.path.insert(0, str(ROOT))

from serving.echo import ECHO, echo_main  # noqa: E402
from serving.generation import N_PRODUCTS, N_USERS, publish_generation  # noqa: E402
from serving.load import drive, merge, prewarm  # noqa: E402
from serving.payloads import RECOMMEND, recommend_requests  # noqa: E402
from serving.processes import cpu_split, recsvc_server, started  # noqa: E402
from serving.report import print_table, summarize  # noqa: E402

from loopback.ports import free_port  # noqa: E402
from loopback.processes import Proc  # noqa: E402

# (scenario, its recsvc settings on top of service_env's, the requests' kind)
SCENARIOS: tuple[tuple[str, dict[str, str], str], ...] = (
    ("recommend_hit", {"RECSVC_CACHE": "redis"}, "hit"),
    ("recommend_hit_no_memo", {"RECSVC_CACHE": "redis", "RECSVC_L1_ANSWERS": "0"}, "hit"),
    ("recommend_hit_redis", {"RECSVC_CACHE": "redis", "RECSVC_L1_ENTRIES": "0"}, "hit"),
    ("recommend_context", {"RECSVC_CACHE": "redis"}, "context"),
    ("recommend_miss", {"RECSVC_CACHE": "none"}, "miss"),
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per point")
    parser.add_argument("--rounds", type=int, default=5,
                        help="slices per point, alternated with echo slices")
    parser.add_argument("--warmup", type=float, default=0.5,
                        help="unmeasured seconds at the start of each slice")
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
    return parser.parse_args()


def service_env(args: argparse.Namespace, endpoint: str, redis_port: int) -> dict[str, str]:
    """recsvc's settings shared by every scenario."""
    env = {
        "RECSVC_HOST": "127.0.0.1", "RECSVC_PORT": "0", "RECSVC_TABLE": "bench",
        "RECSVC_DYNAMODB_ENDPOINT_URL": endpoint, "RECSVC_REDIS_URL":
        f"redis://127.0.0.1:{redis_port}/0", "RECSVC_WORKERS": str(args.workers),
        "RECSVC_EVENT_LOOP": args.loop, "RECSVC_LOG_LEVEL": "WARNING",
        "RECSVC_ACCESS_LOG": "true" if args.access_log else "false",
        "RECSVC_CACHE_PREFIX": f"bench{os.getpid()}", "RECSVC_GRACE_S": "2",
        "RECSVC_DRAIN_DELAY_S": "0",
    }
    if args.workers > 1:
        env["RECSVC_PORT"] = str(free_port())
    return env


def measure(
    name: str,
    env: dict[str, str],
    kind: str,
    echo_target: str,
    echo_payloads: list[bytes],
    args: argparse.Namespace,
    cpus: tuple[set[int] | None, set[int] | None],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One scenario's row (with its ratios to echo) and the echo slices paired with it."""
    server_cpus, client_cpus = cpus
    payloads = recommend_requests(kind)
    with started(recsvc_server(name, env, server_cpus)) as proc:
        target = proc.wait_for(r"recsvc listening on (\S+)").group(1)
        if kind != "miss":
            prewarm(target, RECOMMEND, payloads)
        # Alternate short slices with echo slices: a neighbour's load on this
        # shared machine then hits both sides of the ratio alike.
        mine, paired = [], []
        for _ in range(args.rounds):
            mine.append(drive(target, RECOMMEND, payloads, args.seconds / args.rounds,
                              args, client_cpus))
            paired.append(drive(echo_target, ECHO, echo_payloads,
                                args.seconds / args.rounds, args, client_cpus))
    row = summarize(name, merge(mine))
    echo_row = summarize("echo", merge(paired))
    row["ratio_qps_vs_echo"] = round(row["qps"] / echo_row["qps"], 3)
    row["ratio_p99_vs_echo"] = round(row["p99_ms"] / echo_row["p99_ms"], 3)
    row["echo_qps_paired"] = echo_row["qps"]
    print(f"  {name}: {row['qps']:.0f} calls/s, echo alongside {echo_row['qps']:.0f}",
          flush=True)
    return row, paired


def main() -> None:
    args = parse_args()
    if args.echo_server is not None:
        echo_main(args.echo_server, args.workers, args.loop)
        return

    server_cpus, client_cpus = cpu_split(not args.no_pin)
    aws = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
    os.environ.update(aws)
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
        published = publish_generation(endpoint, "bench")
        print(f"published generation {published.generation} ({N_USERS} users, "
              f"{N_PRODUCTS} products) in {published.seconds:.1f}s", flush=True)
        print(f"pinning: servers on cores {sorted(server_cpus) if server_cpus else 'any'}, "
              f"clients on {sorted(client_cpus) if client_cpus else 'any'}; "
              f"{args.clients} client processes, {args.concurrency} in flight, "
              f"{args.workers} server process(es), {args.loop}", flush=True)

        base = service_env(args, endpoint, redis_port)
        echo_port = free_port() if args.workers > 1 else 0
        echo = stack.enter_context(started(Proc(
            [sys.executable, str(Path(__file__).resolve()), "--echo-server", str(echo_port),
             "--workers", str(args.workers), "--loop", args.loop], {}, "echo", server_cpus)))
        found = echo.wait_for(r"echo listening on (\S+)")
        echo_target = f"127.0.0.1:{echo_port}" if echo_port else found.group(1)
        echo_payloads = recommend_requests("hit")
        echo_slices: list[dict[str, Any]] = []
        for name, env, kind in SCENARIOS:
            if args.only and name not in args.only:
                continue
            row, paired = measure(name, {**base, **env}, kind, echo_target, echo_payloads,
                                  args, (server_cpus, client_cpus))
            rows.append(row)
            echo_slices.extend(paired)
        echo_row = summarize("echo", merge(echo_slices))
        echo_row.update(ratio_qps_vs_echo=1.0, ratio_p99_vs_echo=1.0,
                        echo_qps_paired=echo_row["qps"])
        rows.append(echo_row)

    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
