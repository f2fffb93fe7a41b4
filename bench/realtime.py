"""Benchmark: Track under Recommend load, event-to-visible latency, Track throughput.

One run starts moto (DynamoDB), publishes the bench generation of bench/serve.py (2,000
users, 400 products) through the batch job's writer, and starts `python -m recsvc serve`
with the shared Redis at 127.0.0.1:6379 as cache *and* session memory (a fresh key prefix
per run, deleted at the end) and the echo server of bench/serve.py, both pinned to the
upper half of the cores; clients run on the lower half. Then:

1. Recommend's maximum rate: closed loop (--concurrency in flight from --clients
   processes) over 1,000 signed-in users, in slices alternating with echo slices.
2. Recommend open loop at --load-share x that maximum, in slices that alternate
   between no events and events: Track at --events-per-s (batches of --batch events;
   signed-in users and anonymous sessions, Zipf-skewed, the hottest users being the
   ones Recommend asks for; views 85%, cart adds 10%, purchases 5%) plus probes.
   Probes are dedicated shoppers (signed-in users with a batch profile and nothing else
   touching them, and fresh anonymous sessions): Recommend, Track(view P), then Recommend
   at once and every 2 ms until an item's reason names P. event-to-visible = from the
   Track reply to that answer.
3. Track's maximum rate: closed loop, batches of --batch fresh events, in slices
   alternating with echo slices fed the same bytes.

Latencies of the open loops are measured from when each call was due. Speed is read as
ratios against what was measured alongside in the same run (echo, the no-event slices):
the machine's cores are shared and noisy. Targets are printed, not asserted.

    .venv/bin/python bench/realtime.py [--seconds 30] [--rounds 5] [--events-per-s 1000]
        [--load-share 0.8] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/realtime.py` from a checkout
    sys.path.insert(0, str(ROOT))

from live.cpu import CpuSampler  # noqa: E402
from live.drivers import Job, merge, run_together  # noqa: E402
from live.metrics import memo_share, scrape  # noqa: E402
from live.report import finite, pct, print_table, visibility  # noqa: E402
from live.shoppers import PROBE_USERS, Shoppers  # noqa: E402
from serving.echo import ECHO  # noqa: E402
from serving.generation import publish_generation  # noqa: E402
from serving.load import drive, prewarm  # noqa: E402
from serving.payloads import RECOMMEND, recommend_requests  # noqa: E402
from serving.processes import cpu_split, started  # noqa: E402
from serving.report import summarize  # noqa: E402
from serving.stack import (  # noqa: E402
    drop_prefix,
    recsvc_env,
    run_prefix,
    start_moto,
    start_recsvc,
    use_this_checkout,
)

from loopback.ports import free_port  # noqa: E402
from loopback.processes import Proc  # noqa: E402

TABLE = "bench"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0,
                        help="measured seconds with events (and as many without)")
    parser.add_argument("--rounds", type=int, default=5, help="slices of each kind, alternated")
    parser.add_argument("--max-seconds", type=float, default=8.0,
                        help="measured seconds of each closed-loop maximum (and of echo)")
    parser.add_argument("--warmup", type=float, default=1.0,
                        help="unmeasured seconds at the start of each slice")
    parser.add_argument("--concurrency", type=int, default=8,
                        help="calls in flight in the closed loops")
    parser.add_argument("--clients", type=int, default=2, help="client processes per load")
    parser.add_argument("--events-per-s", type=float, default=1000.0)
    parser.add_argument("--batch", type=int, default=10, help="events per Track call")
    parser.add_argument("--load-share", type=float, default=0.8,
                        help="Recommend's open-loop rate as a share of its maximum")
    parser.add_argument("--probe-loops", type=int, default=4, help="probes in flight")
    parser.add_argument("--probe-pause", type=float, default=0.25,
                        help="seconds between one probe's end and the next")
    parser.add_argument("--no-pin", action="store_true", help="do not pin to cores")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    args = parser.parse_args()
    args.loop = "uvloop"  # what serving.load.drive reads
    return args


def closed_jobs(args: argparse.Namespace, kind: str, target: str, cpus: set[int] | None,
                seconds: float, payloads: list[bytes], tag: str) -> list[Job]:
    """--concurrency calls in flight of ``kind`` spread over --clients processes."""
    per = [args.concurrency // args.clients + (i < args.concurrency % args.clients)
           for i in range(args.clients)]
    return [Job(kind, target, args.warmup, seconds, cpus, concurrency=c, payloads=payloads,
                seed=hash(tag) % 10_000 + 100 * i, run=tag.split("/")[0], tag=f"{tag}c{i}",
                options={"batch": args.batch})
            for i, c in enumerate(per) if c]


def alternate(args: argparse.Namespace, cpus: set[int] | None, kind: str, target: str,
              payloads: list[bytes], echo: tuple[str, list[bytes]],
              run: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Closed-loop slices of ``kind`` alternating with echo slices fed ``echo``'s bytes:
    (ours merged, echo merged)."""
    ours, echoes = [], []
    seconds = args.max_seconds / args.rounds
    for r in range(args.rounds):
        jobs = closed_jobs(args, kind, target, cpus, seconds, payloads, f"{run}/{kind}{r}")
        ours.append(merge(run_together(jobs), seconds))
        echoes.append(drive(echo[0], ECHO, echo[1], seconds, args, cpus))
    return merge(ours, args.max_seconds), merge(echoes, args.max_seconds)


def latency_slices(args: argparse.Namespace, target: str, cpus: set[int] | None, run: str,
                   rate: float, metrics_port: int
                   ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(Recommend without events, Recommend with events, the Track and probe results);
    the first two carry recsvc's Recommend counters over their slices ("counters")."""
    hot = recommend_requests("hit")
    seconds = args.seconds / args.rounds
    probe_users = [f"u{n:06d}" for n in PROBE_USERS]
    idle, busy, events = [], [], []
    for r in range(args.rounds):
        load = [Job("recommend_open", target, args.warmup, seconds, cpus,
                    rate=rate / args.clients, payloads=hot) for _ in range(args.clients)]
        before = scrape(metrics_port)
        idle.append(merge(run_together(load), seconds))
        idle[-1]["counters"] = scrape(metrics_port) - before
        track = Job("track_open", target, args.warmup, seconds, cpus,
                    rate=args.events_per_s / args.batch, seed=r, run=run,
                    tag=f"{run}-load{r}", options={"batch": args.batch})
        probe = Job("probe", target, args.warmup, seconds, cpus,
                    concurrency=args.probe_loops, seed=r, tag=f"{run}-probe{r}",
                    options={"known_users": probe_users[r::args.rounds],
                             "pause_s": args.probe_pause})
        before = scrape(metrics_port)
        results = run_together([*load, track, probe])
        busy.append(merge(results[:-2], seconds))
        busy[-1]["counters"] = scrape(metrics_port) - before
        events.append(merge(results[-2:], seconds))
        print(f"  round {r + 1}/{args.rounds}: p99 {pct(idle[-1]['latencies'], 0.99) * 1e3:.1f}"
              f" ms without events, {pct(busy[-1]['latencies'], 0.99) * 1e3:.1f} ms with "
              f"{events[-1]['events'] / seconds:.0f} events/s", flush=True)
    total = args.seconds
    return merge(idle, total), merge(busy, total), merge(events, total)


def figures(args: argparse.Namespace, cpu: CpuSampler, rec_max: dict[str, Any],
            echo_rec: dict[str, Any], rate: float, idle: dict[str, Any], busy: dict[str, Any],
            events: dict[str, Any], track_max: dict[str, Any],
            echo_track: dict[str, Any]) -> dict[str, Any]:
    vis = visibility(events["probes"])
    core = {name: cpu.busy(m["windows"]) for name, m in (
        ("recommend_max", rec_max), ("idle", idle), ("with_events", busy),
        ("track_max", track_max))}
    max_row, echo_rec_row = summarize("recommend_max", rec_max), summarize("echo", echo_rec)
    track_row, echo_track_row = summarize("track", track_max), summarize("echo", echo_track)
    p99_idle, p99_busy = pct(idle["latencies"], 0.99), pct(busy["latencies"], 0.99)
    sampled = max(1, busy["sampled"])

    def answered(m: dict[str, Any]) -> float:  # calls/s answered in time (open loop)
        return round((len(m["latencies"]) - sum(m["codes"].values())) / args.seconds, 1)
    return {
        "event_to_visible_p50_s": finite(vis["p50_s"]),
        "event_to_visible_p99_s": finite(vis["p99_s"]),
        "events_per_s_sent": round(events["events"] / args.seconds, 1),
        "track_events_per_s": round(track_max["events"] / args.max_seconds, 1),
        "recommend_p99_ms_idle": round(p99_idle * 1e3, 3),
        "recommend_p99_ms_with_events": round(p99_busy * 1e3, 3),
        "recommend_p50_ms_idle": round(pct(idle["latencies"], 0.5) * 1e3, 3),
        "recommend_p50_ms_with_events": round(pct(busy["latencies"], 0.5) * 1e3, 3),
        "recommend_p99_rise": round(p99_busy / p99_idle - 1, 3),
        "recommend_max_qps": max_row["qps"],
        "recommend_rate_offered": round(rate, 1),
        "recommend_qps_idle": answered(idle),
        "recommend_qps_with_events": answered(busy),
        "recommend_errors": {"idle": dict(idle["codes"]), "with_events": dict(busy["codes"])},
        "recommend_failed_share": {
            "idle": round(sum(idle["codes"].values()) / max(1, len(idle["latencies"])), 4),
            "with_events": round(sum(busy["codes"].values()) / max(1, len(busy["latencies"])),
                                 4)},
        "recommend_sources_with_events": dict(busy["sources"]),
        "recommend_without_session_share": round(busy["without_session"] / sampled, 4),
        "client_send_lag_p99_ms": {"idle": round(pct(idle["lag"], 0.99, 0.0) * 1e3, 3),
                                   "with_events": round(pct(busy["lag"], 0.99, 0.0) * 1e3, 3)},
        "server_core_busy": {k: round(v, 3) for k, v in core.items()},
        "recommend_memo_share": {"idle": round(memo_share(idle["counters"]), 3),
                                 "with_events": round(memo_share(busy["counters"]), 3)},
        "server_cpu_us_per_recommend": round(
            core["recommend_max"] / max_row["qps"] * 1e6, 1),
        "server_cpu_us_per_track_event": round(
            core["track_max"] / (track_max["events"] / args.max_seconds) * 1e6, 1),
        "load_share": args.load_share,
        "echo_recommend_qps": echo_rec_row["qps"],
        "recommend_max_vs_echo": round(max_row["qps"] / echo_rec_row["qps"], 3),
        "track_calls_per_s": track_row["qps"],
        "track_p99_ms_max": track_row["p99_ms"],
        "echo_track_qps": echo_track_row["qps"],
        "track_vs_echo": round(track_row["qps"] / echo_track_row["qps"], 3),
        "track_p99_ms_under_load": round(pct(events["latencies"], 0.99) * 1e3, 3),
        "track_outcomes": dict(events["outcomes"] + track_max["outcomes"]),
        "track_sessions_not_updated": events["not_updated"] + track_max["not_updated"],
        "track_errors": dict(events["codes"] + track_max["codes"]),
        "events_by_type": dict(events["by_type"]),
        "distinct_shoppers_with_events": events["shoppers"],
        "visibility": {k: finite(v) if isinstance(v, float) else v for k, v in vis.items()},
        "batch": args.batch,
        "seconds": args.seconds,
    }


def main() -> None:
    args = parse_args()
    use_this_checkout()
    server_cpus, client_cpus = cpu_split(not args.no_pin)
    with ExitStack() as stack:
        endpoint = start_moto(stack)
        published = publish_generation(endpoint, TABLE)
        prefix = run_prefix("realtime")
        stack.callback(lambda: print(f"dropped {drop_prefix(prefix)} Redis keys of {prefix}"))
        metrics_port = free_port()
        server, target = start_recsvc(stack, "recsvc", recsvc_env(
            endpoint, TABLE, prefix, RECSVC_METRICS_PORT=str(metrics_port)), server_cpus)
        cpu = CpuSampler(server.popen.pid)
        stack.callback(cpu.stop)
        echo = stack.enter_context(started(Proc(
            [sys.executable, str(ROOT / "bench" / "serve.py"), "--echo-server", "0",
             "--workers", "1", "--loop", "uvloop"], {}, "echo", server_cpus)))
        echo_target = echo.wait_for(r"echo listening on (\S+)").group(1)
        print(f"generation {published.generation}; recsvc {target}, echo {echo_target}; "
              f"servers on cores {sorted(server_cpus) if server_cpus else 'any'}, clients "
              f"on {sorted(client_cpus) if client_cpus else 'any'}; cache prefix {prefix}",
              flush=True)
        hot = recommend_requests("hit")
        prewarm(target, RECOMMEND, hot)

        print("1. Recommend's maximum rate (closed loop) against echo", flush=True)
        rec_max, echo_rec = alternate(args, client_cpus, "recommend_closed", target, hot,
                                      (echo_target, hot), prefix)
        rate = args.load_share * len(rec_max["latencies"]) / rec_max["seconds"]
        print(f"   {len(rec_max['latencies']) / rec_max['seconds']:.0f} calls/s; open loop "
              f"at {rate:.0f} calls/s", flush=True)

        print(f"2. Recommend at {rate:.0f}/s, alternately without and with "
              f"{args.events_per_s:.0f} events/s and probes", flush=True)
        idle, busy, events = latency_slices(args, target, client_cpus, prefix, rate,
                                            metrics_port)

        print("3. Track's maximum rate (closed loop) against echo", flush=True)
        echo_bytes = Shoppers(99, prefix, f"{prefix}-echo", args.batch)
        track_payloads = [echo_bytes.request() for _ in range(500)]
        track_max, echo_track = alternate(args, client_cpus, "track_closed", target, [],
                                          (echo_target, track_payloads), prefix)

    out = figures(args, cpu, rec_max, echo_rec, rate, idle, busy, events, track_max, echo_track)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    print()
    print_table(out)


if __name__ == "__main__":
    main()
