"""Load that runs in client processes started together (spawned, pinned, released by one
barrier once each is set up): open-loop Recommend at a fixed rate, open-loop Track at a
fixed rate of batches, closed-loop Track, and the event-to-visible probes (probes.py).

Open-loop latencies are measured from when each call was *due*, not when it went out, so
a stalled client or server is not hidden by the calls it failed to send (no coordinated
omission); a call that fails (past its 5 s deadline, say) counts with the time it took to
fail, so percentiles are not computed over the survivors only; ``lag`` says how late the
client itself sent (its own saturation).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import queue
import random
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

RECOMMEND = "/recsvc.api.v1.Recommender/Recommend"
TRACK = "/recsvc.api.v1.Recommender/Track"
SAMPLE_EVERY = 16  # Recommend answers parsed to tally sources and without_session


@dataclass(frozen=True)
class Job:
    """One client process's work (pickled to it). ``kind``: recommend_open, track_open,
    track_closed or probe; ``rate``: calls/s (open loops); ``options``: the kind's own."""

    kind: str
    target: str
    warmup_s: float
    seconds: float
    cpus: set[int] | None
    rate: float = 0.0
    concurrency: int = 1
    payloads: list[bytes] = field(default_factory=list)
    seed: int = 0
    run: str = ""
    tag: str = ""
    options: dict[str, Any] = field(default_factory=dict)


def empty() -> dict[str, Any]:
    return {"latencies": [], "codes": Counter(), "sources": Counter(), "lag": [],
            "outcomes": Counter(), "events": 0, "not_updated": 0, "without_session": 0,
            "sampled": 0, "by_type": Counter(), "shoppers": 0, "probes": [], "windows": []}


async def _open_loop(job: Job, t0: float, out: dict[str, Any], method: str,
                     next_payload: Callable[[int], bytes],
                     tally: Callable[[bytes], None]) -> None:
    """Call ``method`` at ``job.rate`` whatever the answers take (call n is due at t0 +
    n/rate), recording into ``out`` from the end of the warm-up: latency from when each
    call was due, failures with the time they took, the client's own lag; ``tally`` sees
    each recorded answer."""
    import grpc

    record_from, until = t0 + job.warmup_s, t0 + job.warmup_s + job.seconds
    interval = 1.0 / job.rate
    async with grpc.aio.insecure_channel(job.target) as channel:
        call = channel.unary_unary(method)

        async def one(payload: bytes, due: float) -> None:
            try:
                answer = await call(payload, timeout=5)
            except grpc.aio.AioRpcError as exc:
                if due >= record_from:  # a failed call counts, as late as it failed
                    out["codes"][exc.code().name] += 1
                    out["latencies"].append(time.perf_counter() - due)
                return
            if due >= record_from:
                out["latencies"].append(time.perf_counter() - due)
                tally(answer)

        tasks: set[asyncio.Task[None]] = set()
        n = 0
        while (due := t0 + n * interval) < until:
            payload = next_payload(n)
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            elif due >= record_from:
                out["lag"].append(-delay)
            task = asyncio.ensure_future(one(payload, due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            n += 1
        await asyncio.gather(*tasks)


async def _recommend_open(job: Job, t0: float) -> dict[str, Any]:
    from recsvc.api.v1 import recommender_pb2 as rpb

    out = empty()
    offset = random.randrange(len(job.payloads))

    def tally(answer: bytes) -> None:
        if len(out["latencies"]) % SAMPLE_EVERY == 1:
            parsed = rpb.RecommendResponse.FromString(answer)
            out["sources"][rpb.Source.Name(parsed.source)] += 1
            out["sampled"] += 1
            out["without_session"] += parsed.without_session

    await _open_loop(job, t0, out, RECOMMEND,
                     lambda n: job.payloads[(offset + n) % len(job.payloads)], tally)
    return out


async def _recommend_closed(job: Job, t0: float) -> dict[str, Any]:
    import grpc

    from recsvc.api.v1 import recommender_pb2 as rpb

    out = empty()
    record_from, until = t0 + job.warmup_s, t0 + job.warmup_s + job.seconds
    async with grpc.aio.insecure_channel(job.target) as channel:
        call = channel.unary_unary(RECOMMEND)

        async def worker(w: int) -> None:
            n = random.randrange(len(job.payloads))
            while (start := time.perf_counter()) < until:
                n += 1
                try:
                    answer = await call(job.payloads[n % len(job.payloads)], timeout=5)
                except grpc.aio.AioRpcError as exc:
                    out["codes"][exc.code().name] += 1
                    continue
                if start >= record_from:
                    out["latencies"].append(time.perf_counter() - start)
                    if len(out["latencies"]) % SAMPLE_EVERY == 1:
                        parsed = rpb.RecommendResponse.FromString(answer)
                        out["sources"][rpb.Source.Name(parsed.source)] += 1

        await asyncio.gather(*(worker(w) for w in range(job.concurrency)))
    return out


def _tally_track(out: dict[str, Any], answer: bytes) -> None:
    from recsvc.api.v1 import recommender_pb2 as rpb

    parsed = rpb.TrackResponse.FromString(answer)
    for status in parsed.statuses:
        out["outcomes"][rpb.EventStatus.Outcome.Name(status.outcome)] += 1
    out["events"] += len(parsed.statuses)
    out["not_updated"] += not parsed.sessions_updated


async def _track_open(job: Job, t0: float) -> dict[str, Any]:
    from live.shoppers import Shoppers

    out = empty()
    shoppers = Shoppers(job.seed, job.run, job.tag, job.options.get("batch", 10))
    await _open_loop(job, t0, out, TRACK, lambda _: shoppers.request(),
                     lambda answer: _tally_track(out, answer))
    out["by_type"].update(shoppers.by_type)
    out["shoppers"] = len(shoppers.shoppers)
    return out


async def _track_closed(job: Job, t0: float) -> dict[str, Any]:
    import grpc

    from live.shoppers import Shoppers

    out = empty()
    record_from, until = t0 + job.warmup_s, t0 + job.warmup_s + job.seconds
    async with grpc.aio.insecure_channel(job.target) as channel:
        call = channel.unary_unary(TRACK)

        async def worker(w: int) -> None:
            shoppers = Shoppers(job.seed + w, job.run, f"{job.tag}w{w}",
                                job.options.get("batch", 10))
            while time.perf_counter() < until:
                payload = shoppers.request()
                start = time.perf_counter()
                try:
                    answer = await call(payload, timeout=5)
                except grpc.aio.AioRpcError as exc:
                    out["codes"][exc.code().name] += 1
                    continue
                if start >= record_from:
                    out["latencies"].append(time.perf_counter() - start)
                    _tally_track(out, answer)

        await asyncio.gather(*(worker(w) for w in range(job.concurrency)))
    return out


def _coroutine(job: Job) -> Callable[[Job, float], Coroutine[Any, Any, dict[str, Any]]]:
    if job.kind == "probe":
        from live.probes import probe

        return probe
    return {"recommend_open": _recommend_open, "recommend_closed": _recommend_closed,
            "track_open": _track_open, "track_closed": _track_closed}[job.kind]


def _process(job: Job, barrier: Any, results: Any, index: int) -> None:
    if job.cpus:
        os.sched_setaffinity(0, job.cpus)  # before grpc starts its threads
    import grpc  # noqa: F401 - imported before the barrier, not inside the measurement
    import uvloop

    run = _coroutine(job)

    async def main() -> dict[str, Any]:
        barrier.wait()
        t0, wall = time.perf_counter(), time.time()
        out = await run(job, t0)
        out["windows"] = [(wall + job.warmup_s, wall + job.warmup_s + job.seconds)]
        return out

    try:
        results.put((index, uvloop.run(main())))
    except BaseException as exc:  # noqa: B036 - the parent must hear of it, not hang
        results.put((index, {"error": repr(exc)}))
        raise


def run_together(jobs: list[Job]) -> list[dict[str, Any]]:
    """Run ``jobs`` in one spawned process each, released together; their results."""
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(len(jobs), timeout=120), ctx.Queue()
    procs = [ctx.Process(target=_process, args=(job, barrier, results, n))
             for n, job in enumerate(jobs)]
    for p in procs:
        p.start()
    deadline = time.monotonic() + max(j.warmup_s + j.seconds for j in jobs) + 180
    got: dict[int, dict[str, Any]] = {}
    strikes = 0  # a dead process's result may still be in the pipe: look twice
    while len(got) < len(procs):
        try:
            index, result = results.get(timeout=1.0)
            got[index] = result
        except queue.Empty:
            dead = [n for n, p in enumerate(procs) if not p.is_alive() and n not in got]
            strikes = strikes + 1 if dead else 0
            if strikes >= 2 or time.monotonic() > deadline:
                for p in procs:
                    p.kill()
                raise RuntimeError(f"client process(es) {dead or 'all'} gave no result") from None
    for p in procs:
        p.join(30)
    failed = [r["error"] for r in got.values() if "error" in r]
    if failed:
        raise RuntimeError(f"client process failed: {failed[0]}")
    return [got[n] for n in range(len(jobs))]


def merge(parts: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """Client results (and slices) as one measurement over ``seconds``."""
    out = empty()
    out["seconds"] = seconds
    for part in parts:
        for key, value in part.items():
            if key != "seconds":
                out[key] = out[key] + value if key in out else value
    return out
