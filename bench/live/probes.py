"""Event-to-visible probes: dedicated shoppers (signed-in users with a batch profile that
no other load touches, and fresh anonymous sessions) who view one product P each; the
latency is from the Track reply to the first Recommend answer with an item whose reason
names P.

Each probe: Recommend (P must not be named yet), Track(view P), then Recommend again at
once and every ``poll_s`` until P is named or ``timeout_s`` passes (then it counts as not
visible). A shopper is probed once, so earlier views never dilute P's weight.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from serving.generation import N_PRODUCTS

from live.drivers import RECOMMEND, TRACK, Job, empty
from live.shoppers import PROBE_EXCLUDED


def _names(answer: Any, product: str) -> bool:
    return any(product in item.reason.split() for item in answer.items)


async def probe(job: Job, t0: float) -> dict[str, Any]:
    import grpc

    from recsvc.api.v1 import recommender_pb2 as rpb

    out = empty()
    opts = job.options
    record_from, until = t0 + job.warmup_s, t0 + job.warmup_s + job.seconds
    rng = random.Random(job.seed)
    products = [f"p{n:05d}" for n in range(N_PRODUCTS) if f"p{n:05d}" != PROBE_EXCLUDED]
    known: list[str] = list(opts["known_users"])
    async with grpc.aio.insecure_channel(job.target) as channel:
        recommend = channel.unary_unary(
            RECOMMEND, request_serializer=rpb.RecommendRequest.SerializeToString,
            response_deserializer=rpb.RecommendResponse.FromString)
        track = channel.unary_unary(
            TRACK, request_serializer=rpb.TrackRequest.SerializeToString,
            response_deserializer=rpb.TrackResponse.FromString)

        async def once(n: int, loop: int) -> None:
            if (n + loop) % 2 == 0 and known:  # both kinds from the first probes on
                kind, shopper = "known", {"user_id": known.pop()}
            else:
                kind, shopper = "anonymous", {"session_id": f"{job.tag}-l{loop}-{n}"}
            request = rpb.RecommendRequest(k=opts.get("k", 10), **shopper)
            before = await recommend(request, timeout=5)
            product = rng.choice(products)
            while _names(before, product):
                product = rng.choice(products)
            event = rpb.Event(event_id=f"{job.tag}-l{loop}-{n}", event_type=rpb.VIEW,
                              product_id=product, **shopper)
            reply = await track(rpb.TrackRequest(events=[event]), timeout=5)
            replied = time.perf_counter()
            if reply.statuses[0].outcome != rpb.EventStatus.ACCEPTED:
                out["outcomes"][rpb.EventStatus.Outcome.Name(reply.statuses[0].outcome)] += 1
                return
            polls, visible = 0, None
            while True:
                answer = await recommend(request, timeout=5)
                polls += 1
                if _names(answer, product):
                    visible = time.perf_counter() - replied
                    break
                if time.perf_counter() - replied > opts.get("timeout_s", 5.0):
                    break
                await asyncio.sleep(opts.get("poll_s", 0.002))
            if record_from <= replied < until:
                out["probes"].append({"kind": kind, "visible_s": visible, "polls": polls,
                                      "source": rpb.Source.Name(answer.source)})

        async def loop(index: int) -> None:
            n = 0
            while time.perf_counter() < until:
                try:
                    await once(n, index)
                except grpc.aio.AioRpcError as exc:
                    out["codes"][exc.code().name] += 1
                n += 1
                await asyncio.sleep(opts.get("pause_s", 0.2))

        await asyncio.gather(*(loop(i) for i in range(job.concurrency)))
    return out
