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
import asyncio
import json
import multiprocessing
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/serve.py` from a checkout
    sys.path.insert(0, str(ROOT))

RECOMMEND = "/recsvc.api.v1.Recommender/Recommend"
ECHO = "/bench.Echo/Echo"
N_USERS = 2000
N_PRODUCTS = 400
CATEGORIES = ("home", "garden", "toys", "books", "sports", "pets", "beauty", "tools")
HOT_USERS = 1000  # cache-hit scenarios cycle over these (all fit the L1)


# -- data -------------------------------------------------------------------------------


def generation_data() -> Any:
    from profile_engine.publish import GenerationData, new_generation_id
    from recsvc.models import Manifest, Neighbours, PopularList, Profile, ScoredItem

    rng = random.Random(7)
    products = [f"p{n:05d}" for n in range(N_PRODUCTS)]
    category = {p: CATEGORIES[n % len(CATEGORIES)] for n, p in enumerate(products)}

    def scored(ids: Sequence[str], reason: str) -> tuple[ScoredItem, ...]:
        return tuple(ScoredItem(p, round(1.0 - j / 60, 4), reason) for j, p in enumerate(ids))

    # 50 recommendations with reasons: ~2.5 KB per profile, like a production item.
    profiles = [
        Profile(
            user_id=f"u{n:06d}",
            recommendations=scored(rng.sample(products, 50), "bought together with p00042"),
            purchased=tuple(rng.sample(products, 5)),
            recent=tuple(rng.sample(products, 5)),
            category_affinity={c: round(rng.random(), 3) for c in rng.sample(CATEGORIES, 3)},
            rfm={"recency_days": 12.0, "frequency": 4.0, "monetary": 310.5},
        )
        for n in range(N_USERS)
    ]
    neighbours = [
        Neighbours(p, category[p], n % 17 != 0, scored(rng.sample(products, 20), "similar"))
        for n, p in enumerate(products)
    ]
    popular = [PopularList("", scored(products[:100], "popular"))] + [
        PopularList(c, scored([p for p in products if category[p] == c][:50], f"popular in {c}"))
        for c in CATEGORIES
    ]
    manifest = Manifest(
        generation=new_generation_id(),
        published_at=datetime.now(UTC).isoformat(timespec="seconds"),
        counts={"users": N_USERS, "items": N_PRODUCTS},
        categories=CATEGORIES,
    )
    return GenerationData(manifest, profiles, neighbours, popular, [])


def requests(kind: str) -> list[bytes]:
    from recsvc.api.v1 import recommender_pb2 as rpb

    rng = random.Random(11)
    out = []
    for n in range(N_USERS if kind == "miss" else HOT_USERS):
        context = rpb.RecommendContext()
        if kind == "context":
            viewed, *cart = rng.sample(range(N_PRODUCTS), 3)
            context = rpb.RecommendContext(
                viewed_product_id=f"p{viewed:05d}", cart_product_ids=[f"p{c:05d}" for c in cart]
            )
        request = rpb.RecommendRequest(user_id=f"u{n:06d}", k=10, context=context)
        out.append(request.SerializeToString())
    if kind == "miss":
        rng.shuffle(out)
    return out


# -- processes --------------------------------------------------------------------------


def cpu_split(pin: bool) -> tuple[set[int] | None, set[int] | None]:
    """(server cores, client cores), or (None, None) when not pinning."""
    cores = sorted(os.sched_getaffinity(0))
    if not pin or len(cores) < 2:
        return None, None
    half = len(cores) // 2
    return set(cores[half:]), set(cores[:half])


class Process:
    def __init__(self, args: list[str], env: dict[str, str], name: str,
                 cpus: set[int] | None = None) -> None:
        self.name = name
        self.log = Path(tempfile.gettempdir()) / f"bench-{name}-{os.getpid()}.log"
        self._out = self.log.open("wb")

        def pin() -> None:  # before exec: every thread of the child inherits it
            if cpus:
                os.sched_setaffinity(0, cpus)

        self.popen = subprocess.Popen(
            args, env={**os.environ, **env}, stdout=self._out, stderr=subprocess.STDOUT,
            cwd=ROOT, start_new_session=True, preexec_fn=pin,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.output())
            if found:
                return found
            if self.popen.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not start:\n{self.output()[-3000:]}")

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)
        self._out.close()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def started(proc: Process) -> Iterator[Process]:
    try:
        yield proc
    finally:
        proc.stop()


# -- the echo server (same process model as recsvc) -------------------------------------


async def _echo_serve(port: int, reuseport: bool) -> None:
    import grpc

    async def echo(request: bytes, context: Any) -> bytes:
        return request

    server = grpc.aio.server(options=[("grpc.so_reuseport", 1 if reuseport else 0)])
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(echo)}),))
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print(f"echo listening on 127.0.0.1:{bound}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.stop(1)


def _echo_worker(port: int, reuseport: bool, loop: str) -> None:
    if loop == "uvloop":
        import uvloop

        uvloop.run(_echo_serve(port, reuseport))
    else:
        asyncio.run(_echo_serve(port, reuseport))


def echo_main(port: int, workers: int, loop: str) -> None:
    if workers == 1:
        _echo_worker(port, False, loop)
        return
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_echo_worker, args=(port, True, loop)) for _ in range(workers)]
    for p in procs:
        p.start()

    def forward(sig: int, _frame: object) -> None:
        for p in procs:
            if p.pid:
                os.kill(p.pid, sig)

    signal.signal(signal.SIGTERM, forward)
    for p in procs:
        p.join()


# -- load generator ---------------------------------------------------------------------


@dataclass
class Load:
    target: str
    method: str
    payloads: list[bytes]
    concurrency: int
    warmup_s: float
    seconds: float
    loop: str
    cpus: set[int] | None
    offset: int


def _client(load: Load) -> dict[str, Any]:
    if load.cpus:
        os.sched_setaffinity(0, load.cpus)  # before grpc starts its threads
    if load.loop == "uvloop":
        import uvloop

        return uvloop.run(_drive(load))
    return asyncio.run(_drive(load))


async def _drive(load: Load) -> dict[str, Any]:
    import grpc

    from recsvc.api.v1 import recommender_pb2 as rpb

    latencies: list[float] = []
    codes: Counter[str] = Counter()
    sources: Counter[str] = Counter()
    async with grpc.aio.insecure_channel(load.target) as channel:
        call = channel.unary_unary(load.method)  # bytes in, bytes out
        started = time.perf_counter()
        record_from = started + load.warmup_s
        until = record_from + load.seconds
        n_payloads = len(load.payloads)

        async def worker(w: int) -> None:
            n = load.offset + w * 7919
            while True:
                payload = load.payloads[n % n_payloads]
                n += 1
                t0 = time.perf_counter()
                if t0 >= until:
                    return
                try:
                    answer = await call(payload, timeout=5)
                except grpc.aio.AioRpcError as exc:
                    codes[exc.code().name] += 1
                    continue
                t1 = time.perf_counter()
                if t0 >= record_from:
                    latencies.append(t1 - t0)
                    if load.method == RECOMMEND and len(latencies) % 64 == 1:
                        parsed = rpb.RecommendResponse.FromString(answer)
                        sources[rpb.Source.Name(parsed.source)] += 1

        await asyncio.gather(*(worker(w) for w in range(load.concurrency)))
    return {"latencies": latencies, "codes": dict(codes), "sources": dict(sources)}


def prewarm(target: str, method: str, payloads: list[bytes]) -> None:
    """Call every payload once (the caches now hold what the hit scenarios need)."""
    import grpc

    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary(method)
        for start in range(0, len(payloads), 32):
            for future in [call.future(p, timeout=30) for p in payloads[start:start + 32]]:
                future.result()


def drive(target: str, method: str, payloads: list[bytes], seconds: float,
          args: argparse.Namespace, client_cpus: set[int] | None) -> dict[str, Any]:
    """One slice of closed-loop load: raw latencies, error codes, sampled sources."""
    per_client = [args.concurrency // args.clients + (i < args.concurrency % args.clients)
                  for i in range(args.clients)]
    loads = [Load(target, method, payloads, c, args.warmup, seconds, args.loop,
                  client_cpus, offset=random.randrange(len(payloads)))
             for c in per_client if c]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(len(loads)) as pool:
        results = pool.map(_client, loads)
    out: dict[str, Any] = {"latencies": [], "codes": Counter(), "sources": Counter(),
                           "seconds": seconds}
    for r in results:
        out["latencies"].extend(r["latencies"])
        out["codes"].update(r["codes"])
        out["sources"].update(r["sources"])
    return out


def merge(slices: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"latencies": [], "codes": Counter(), "sources": Counter(),
                           "seconds": 0.0}
    for s in slices:
        out["latencies"].extend(s["latencies"])
        out["codes"].update(s["codes"])
        out["sources"].update(s["sources"])
        out["seconds"] += s["seconds"]
    return out


def summarize(name: str, m: dict[str, Any]) -> dict[str, Any]:
    latencies = sorted(m["latencies"])
    sources: Counter[str] = m["sources"]

    def pct(q: float) -> float:
        if not latencies:
            return float("nan")
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    source = sources.most_common(1)[0][0].removeprefix("SOURCE_") if sources else "-"
    share = sources.most_common(1)[0][1] / sum(sources.values()) if sources else 1.0
    return {
        "name": name,
        "qps": round(len(latencies) / m["seconds"], 1),
        "p50_ms": round(pct(0.50), 3),
        "p99_ms": round(pct(0.99), 3),
        "p999_ms": round(pct(0.999), 3),
        "calls": len(latencies),
        "errors": dict(m["codes"]),
        "source": f"{source} {share:.0%}",
    }


# -- main -------------------------------------------------------------------------------


def recsvc_server(name: str, env: dict[str, str], cpus: set[int] | None) -> Process:
    proc = Process([sys.executable, "-m", "recsvc", "serve"], env, name, cpus)
    return proc


def main() -> None:
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
    args = parser.parse_args()
    if args.echo_server is not None:
        echo_main(args.echo_server, args.workers, args.loop)
        return

    import boto3

    from profile_engine.publish import publish
    from recsvc.store import schema

    server_cpus, client_cpus = cpu_split(not args.no_pin)
    aws = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
    os.environ.update(aws)
    rows: list[dict[str, Any]] = []
    with ExitStack() as stack:
        moto_port, redis_port = free_port(), free_port()
        moto = stack.enter_context(started(Process(
            [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1",
             "-p", str(moto_port)], {}, "moto")))
        redis = stack.enter_context(started(Process(
            ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], {}, "redis")))
        moto.wait_for(r"Running on")
        redis.wait_for(r"Ready to accept connections")
        endpoint = f"http://127.0.0.1:{moto_port}"
        client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
        client.create_table(**schema.table_definition("bench"))
        started_at = time.perf_counter()
        data = generation_data()
        publish(client, "bench", data, ttl_days=1)
        print(f"published generation {data.manifest.generation} ({N_USERS} users, "
              f"{N_PRODUCTS} products) in {time.perf_counter() - started_at:.1f}s", flush=True)
        print(f"pinning: servers on cores {sorted(server_cpus) if server_cpus else 'any'}, "
              f"clients on {sorted(client_cpus) if client_cpus else 'any'}; "
              f"{args.clients} client processes, {args.concurrency} in flight, "
              f"{args.workers} server process(es), {args.loop}", flush=True)

        base = {
            "RECSVC_HOST": "127.0.0.1", "RECSVC_PORT": "0", "RECSVC_TABLE": "bench",
            "RECSVC_DYNAMODB_ENDPOINT_URL": endpoint, "RECSVC_REDIS_URL":
            f"redis://127.0.0.1:{redis_port}/0", "RECSVC_WORKERS": str(args.workers),
            "RECSVC_EVENT_LOOP": args.loop, "RECSVC_LOG_LEVEL": "WARNING",
            "RECSVC_ACCESS_LOG": "true" if args.access_log else "false",
            "RECSVC_CACHE_PREFIX": f"bench{os.getpid()}", "RECSVC_GRACE_S": "2",
            "RECSVC_DRAIN_DELAY_S": "0",
        }
        if args.workers > 1:
            base["RECSVC_PORT"] = str(free_port())
        configs: list[tuple[str, dict[str, str], str]] = [
            ("recommend_hit", {"RECSVC_CACHE": "redis"}, "hit"),
            ("recommend_hit_no_memo", {"RECSVC_CACHE": "redis", "RECSVC_L1_ANSWERS": "0"}, "hit"),
            ("recommend_hit_redis", {"RECSVC_CACHE": "redis", "RECSVC_L1_ENTRIES": "0"}, "hit"),
            ("recommend_context", {"RECSVC_CACHE": "redis"}, "context"),
            ("recommend_miss", {"RECSVC_CACHE": "none"}, "miss"),
        ]
        echo_port = free_port() if args.workers > 1 else 0
        echo = stack.enter_context(started(Process(
            [sys.executable, str(Path(__file__).resolve()), "--echo-server", str(echo_port),
             "--workers", str(args.workers), "--loop", args.loop], {}, "echo", server_cpus)))
        found = echo.wait_for(r"echo listening on (\S+)")
        echo_target = f"127.0.0.1:{echo_port}" if echo_port else found.group(1)
        echo_payloads = requests("hit")
        echo_slices: list[dict[str, Any]] = []
        for name, env, kind in configs:
            if args.only and name not in args.only:
                continue
            payloads = requests(kind)
            with started(recsvc_server(name, {**base, **env}, server_cpus)) as proc:
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
            rows.append(row)
            echo_slices.extend(paired)
            print(f"  {name}: {row['qps']:.0f} calls/s, echo alongside {echo_row['qps']:.0f}",
                  flush=True)
        echo_row = summarize("echo", merge(echo_slices))
        echo_row.update(ratio_qps_vs_echo=1.0, ratio_p99_vs_echo=1.0,
                        echo_qps_paired=echo_row["qps"])
        rows.append(echo_row)

    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


def print_table(rows: list[dict[str, Any]]) -> None:
    cols: list[tuple[str, str, Callable[[Any], str]]] = [
        ("scenario", "name", str), ("QPS", "qps", lambda v: f"{v:.0f}"),
        ("p50 ms", "p50_ms", lambda v: f"{v:.2f}"), ("p99 ms", "p99_ms", lambda v: f"{v:.2f}"),
        ("p99.9 ms", "p999_ms", lambda v: f"{v:.2f}"),
        ("QPS/echo", "ratio_qps_vs_echo", lambda v: f"{v:.2f}"),
        ("p99/echo", "ratio_p99_vs_echo", lambda v: f"{v:.2f}"),
        ("source", "source", str), ("errors", "errors", lambda v: str(sum(v.values()))),
    ]
    cells = [[h for h, _, _ in cols]] + [[f(r[k]) for _, k, f in cols] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
    for n, row in enumerate(cells):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(row, widths, strict=True))))
        if n == 0:
            print("  ".join("-" * w for w in widths))


if __name__ == "__main__":
    main()
