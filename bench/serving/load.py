"""Closed-loop load from several client processes (grpc.aio, raw bytes), merged per scenario."""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from serving.payloads import RECOMMEND


@dataclass(frozen=True)
class Load:
    """One client process's share of a slice (pickled to it)."""

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
    completed = 0  # warm-up calls included
    async with grpc.aio.insecure_channel(load.target) as channel:
        call = channel.unary_unary(load.method)  # bytes in, bytes out
        started = time.perf_counter()
        record_from = started + load.warmup_s
        until = record_from + load.seconds
        n_payloads = len(load.payloads)

        async def worker(w: int) -> None:
            nonlocal completed
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
                completed += 1
                if t0 >= record_from:
                    latencies.append(t1 - t0)
                    if load.method == RECOMMEND and len(latencies) % 64 == 1:
                        parsed = rpb.RecommendResponse.FromString(answer)
                        sources[rpb.Source.Name(parsed.source)] += 1

        await asyncio.gather(*(worker(w) for w in range(load.concurrency)))
    return {"latencies": latencies, "codes": dict(codes), "sources": dict(sources),
            "completed": completed}


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
                           "seconds": seconds, "completed": 0}
    for r in results:
        out["completed"] += r["completed"]
        out["latencies"].extend(r["latencies"])
        out["codes"].update(r["codes"])
        out["sources"].update(r["sources"])
    return out


def merge(slices: list[dict[str, Any]]) -> dict[str, Any]:
    """One scenario's slices as one measurement (seconds added up)."""
    out: dict[str, Any] = {"latencies": [], "codes": Counter(), "sources": Counter(),
                           "seconds": 0.0, "completed": 0}
    for s in slices:
        out["completed"] += s["completed"]
        out["latencies"].extend(s["latencies"])
        out["codes"].update(s["codes"])
        out["sources"].update(s["sources"])
        out["seconds"] += s["seconds"]
    return out
