"""Benchmark: recommendation quality with and without session memory, on real data.

For each dataset (UCI Online Retail; the Taobao clickstream sample, reported but never
tuned on): import it with the project's importer, train the batch job on the part before
the cut (`profile-engine run --as-of`: the 80% quantile of interaction times, as in
../shared/EVALUATION.md), publish to moto's DynamoDB, start `python -m recsvc serve` with
the shared Redis at 127.0.0.1:6379 as cache and session memory (a fresh key prefix per
run, deleted at the end), then replay every test session in time order over grpc.aio
(sessions concurrently, each session's events in order; bench/replay/client.py says what
is asked in each mode). Before each event the top 10 is asked and scored: HR@10 (the
event's product is in it) and NDCG@10, over events.

Online Retail: a test session is one invoice, its lines in file order (basket
completion), replayed once as the known customer and once as an anonymous session
(session id = invoice). Taobao: 30-minute-gap sessions, views, cart adds and purchases.
Sessions of users the train part never saw are left out of both replays (counted).

    .venv/bin/python bench/session_replay.py [--limit-sessions N] [--datasets online_retail
        taobao] [--concurrency 32] [--workers 2] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/session_replay.py` from a checkout
    sys.path.insert(0, str(ROOT))

from replay.client import Replayer, Score  # noqa: E402
from replay.data import Session, sample, write_inputs  # noqa: E402
from replay.report import diagnostics, print_dataset, targets  # noqa: E402
from replay.train import as_of, run_job  # noqa: E402
from serving.stack import (  # noqa: E402
    drop_prefix,
    recsvc_env,
    run_prefix,
    start_moto,
    start_recsvc,
    use_this_checkout,
)

from loopback.ports import free_port  # noqa: E402

DATASETS = ("online_retail", "taobao")
ORDER = ("known/batch", "anonymous/batch", "known/session", "anonymous/session")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    parser.add_argument("--limit-sessions", type=int, metavar="N",
                        help="replay N test sessions drawn at random (default: all)")
    parser.add_argument("--seed", type=int, default=7, help="of the session sample")
    parser.add_argument("--concurrency", type=int, default=32, help="sessions in flight")
    parser.add_argument("--workers", type=int, default=2,
                        help="recsvc server processes (RECSVC_WORKERS)")
    parser.add_argument("--connections", type=int, default=4, help="client connections")
    parser.add_argument("--purchases-as", choices=("purchase", "add_to_cart"),
                        default="purchase",
                        help="Track type of purchase events (Online Retail's invoice lines "
                        "are purchases; add_to_cart replays them as a basket being filled)")
    parser.add_argument("--workdir", type=Path, help="keep the imported inputs here")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    return parser.parse_args()


async def replay_all(target: str, sessions: list[Session], args: argparse.Namespace,
                     tag: str) -> dict[str, Any]:
    """Every mode over ``sessions``: batch modes first (the session modes write the
    shoppers' memory, which known/batch's Recommend would read)."""
    out: dict[str, Any] = {"known": {}, "anonymous": {}}
    async with Replayer(target, args.connections, args.concurrency, tag,
                        purchases_as=args.purchases_as) as replayer:
        popular = await replayer.popular()
        score = Score()
        for s in sessions:
            for (_, product, _), rebuy in zip(s.events, s.rebuys, strict=True):
                score.add(popular, product, rebuy)
        out["known"]["popular"] = out["anonymous"]["popular"] = score.figures()
        for mode in ORDER:
            result = await replayer.replay(mode, sessions)
            shopper, memory = mode.split("/")
            out[shopper][memory] = result.figures()
            print(f"  {mode:<18} HR@10 {result.hits / max(1, result.events):.4f}  "
                  f"{result.calls:,} calls in {result.seconds:.0f} s", flush=True)
    return out


def one_dataset(name: str, endpoint: str, workdir: Path,
                args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    events_dir, replica = workdir / name / "events", f"sqlite:///{workdir / name / 'shop.db'}"
    (workdir / name).mkdir(parents=True, exist_ok=True)
    split = write_inputs(name, events_dir, replica)
    print(f"{name}: imported in {time.perf_counter() - started:.0f} s; cut "
          f"{as_of(split.cut_ms)}, {split.train_events:,} train / {split.test_events:,} test "
          f"events", flush=True)
    table = f"replay-{name.replace('_', '-')}"
    trained = run_job(workdir / name, events_dir, replica, endpoint, table, split.cut_ms)
    print(f"{name}: trained and published {trained.generation} in {trained.seconds:.0f} s",
          flush=True)
    sessions = sample(split.sessions, args.limit_sessions, args.seed)
    prefix = run_prefix(f"replay-{name}")
    with ExitStack() as stack:
        stack.callback(lambda: print(f"  dropped {drop_prefix(prefix)} Redis keys"))
        # moto answers far slower than DynamoDB, and slower still on a busy machine: a
        # quality replay must not score store timeouts (fallback lists) as the service.
        extra = {"RECSVC_WORKERS": str(args.workers), "RECSVC_STORE_TIMEOUT_S": "5"}
        if args.workers > 1:
            extra["RECSVC_PORT"] = str(free_port())
        _, target = start_recsvc(stack, f"recsvc-{name}",
                                 recsvc_env(endpoint, table, prefix, **extra))
        if args.workers > 1:
            target = f"127.0.0.1:{extra['RECSVC_PORT']}"
        replay_started = time.perf_counter()
        result = _run_async(replay_all(target, sessions, args, prefix))
        replay_s = time.perf_counter() - replay_started
    result["meta"] = {
        "sessions": len(sessions), "sessions_available": len(split.sessions),
        "skipped_new_user_sessions": split.skipped_new_users, "cut": as_of(split.cut_ms),
        "train_events": split.train_events, "test_events": split.test_events,
        "generation": trained.generation, "train_seconds": round(trained.seconds, 1),
        "replay_seconds": round(replay_s, 1), "purchases_tracked_as": args.purchases_as,
        "train_metrics": trained.report.get("metrics", {}),
        **diagnostics(split, sessions),
    }
    result["targets"] = targets(result)
    return result


def _run_async(coro: Any) -> Any:
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:
        return asyncio.run(coro)


def main() -> None:
    args = parse_args()
    use_this_checkout()
    started = time.perf_counter()
    results: dict[str, Any] = {}
    with ExitStack() as stack:
        workdir = args.workdir or Path(stack.enter_context(
            tempfile.TemporaryDirectory(prefix="session-replay-")))
        endpoint = start_moto(stack)
        for name in args.datasets:
            results[name] = one_dataset(name, endpoint, workdir, args)
    for name, result in results.items():
        print_dataset(name, result)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
