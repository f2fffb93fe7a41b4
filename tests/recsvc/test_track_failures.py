"""Track and Recommend together while their backends fail, with real processes: Redis
killed (Recommend never fails, every accepted event still reaches Firehose), Firehose
unreachable (Recommend unaffected, sessions still update, drops counted, memory bounded)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import grpc
import pytest

from loopback.ports import free_port
from loopback.waiting import wait_until
from recsvc.api.v1 import recommender_pb2 as rpb
from recsvc.api.v1 import recommender_pb2_grpc as rpb_grpc
from recsvc.cache.redis import RedisCache
from recsvc.requests import recommend_request
from tests.conftest import unique
from tests.recsvc import seed
from tests.recsvc.conftest import StartServer
from tests.recsvc.firehose import create_stream
from tests.recsvc.load import Load
from tests.recsvc.test_failures_under_load import redis_server

pytestmark = pytest.mark.timeout(120)

OK = grpc.StatusCode.OK
KNOWN = [seed.user(n) for n in range(40)]


class Tracking:
    """A closed loop of Track calls (batches of 5 events of known users and anonymous
    sessions); remembers every event the service accepted and every reply."""

    def __init__(self, stub: rpb_grpc.RecommenderStub) -> None:
        self._stub = stub
        self._stop = asyncio.Event()
        self.accepted: set[str] = set()
        self.replies: list[rpb.TrackResponse] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        n = 0
        while not self._stop.is_set():
            events = []
            for _ in range(5):
                who = ({"user_id": KNOWN[n % len(KNOWN)]} if n % 2
                       else {"session_id": f"visitor-{n % 13}"})
                events.append(rpb.Event(event_id=unique("e"), event_type=rpb.VIEW,
                                        product_id=seed.product(n % seed.N_PRODUCTS), **who))
                n += 1
            reply = await self._stub.Track(rpb.TrackRequest(events=events), timeout=5)
            self.replies.append(reply)
            self.accepted |= {s.event_id for s in reply.statuses
                              if s.outcome == rpb.EventStatus.ACCEPTED}
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task


@pytest.fixture
def redis_port() -> Iterator[int]:
    yield free_port()


async def test_redis_killed_under_track_and_recommend_load(
    start_server: StartServer, moto_endpoint: str, redis_port: int
) -> None:
    stream = create_stream(moto_endpoint)
    redis = redis_server(redis_port)
    cache = RedisCache.from_url(f"redis://127.0.0.1:{redis_port}/0", timeout_s=0.2)
    load = Load()
    try:
        r = await start_server(cache=cache, cache_prefix=unique("t"), firehose_flush_s=0.2,
                               firehose_stream=stream.name, firehose_endpoint_url=moto_endpoint)
        stub = rpb_grpc.RecommenderStub(r.channel)
        tracking = Tracking(stub)
        tracking.start()
        load.start(lambda n: stub.Recommend(recommend_request(
            KNOWN[n % len(KNOWN)], 5, session_id=f"visitor-{n % 13}"), timeout=5))
        await asyncio.sleep(0.5)
        redis.popen.kill()
        redis.popen.wait(5)
        killed = time.monotonic()
        await asyncio.sleep(1.5)
        down = load.between(killed + 0.3, time.monotonic())
        redis.stop()
        redis = redis_server(redis_port)  # back, empty
        await wait_until(lambda: tracking.replies[-1].sessions_updated, 10,
                         "Track to reach Redis again")
        await tracking.stop()
        calls = await load.stop()
        sink = r.graph.sink
        await wait_until(lambda: sink.depth == 0, 10, "the sink to drain")
    finally:
        await load.stop()
        await cache.aclose()
        redis.stop()
    assert {c.code for c in calls} == {OK}, "a Recommend failed while Redis was away"
    assert down and all(c.response.without_session for c in down)
    assert any(not reply.sessions_updated for reply in tracking.replies)
    assert all(s.outcome != rpb.EventStatus.REJECTED for reply in tracking.replies
               for s in reply.statuses)
    delivered = {json.loads(line)["event_id"] for obj in stream.objects() for line in obj}
    missing = tracking.accepted - delivered
    assert not missing, f"{len(missing)} accepted events never reached Firehose"
    assert not any(k.startswith("dropped_") and v for k, v in sink.counters.items())


async def test_firehose_unreachable_recommend_unaffected_drops_counted_memory_bounded(
    start_server: StartServer,
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens: every call is refused
    cache = RedisCache.from_url("redis://127.0.0.1:6379/0", timeout_s=1.0)
    try:
        r = await start_server(cache=cache, cache_prefix=unique("t"), firehose_stream="events",
                               firehose_endpoint_url=closed, firehose_buffer_records=40,
                               firehose_batch_records=10, firehose_flush_s=0.05,
                               firehose_attempts=2)
        stub = rpb_grpc.RecommenderStub(r.channel)
        sink = r.graph.sink
        session = unique("visitor")
        depths = []
        for _ in range(20):
            events = [rpb.Event(event_id=unique("e"), event_type=rpb.VIEW, session_id=session,
                                product_id=seed.product(3)) for _n in range(10)]
            reply = await stub.Track(rpb.TrackRequest(events=events), timeout=5)
            assert reply.sessions_updated
            assert {s.outcome for s in reply.statuses} == {rpb.EventStatus.ACCEPTED}
            depths.append(sink.depth)
            answer = await stub.Recommend(rpb.RecommendRequest(session_id=session, k=10),
                                          timeout=5)
            assert answer.source == rpb.SOURCE_SESSION  # the events count all the same
        assert max(depths) <= 40
        await wait_until(lambda: sink.counters["dropped_overflow"] > 0, 10,
                         "the full buffer to drop its oldest records")
        dropped = sum(v for k, v in sink.counters.items() if k.startswith("dropped_"))
        assert sink.counters["sent"] == 0 and dropped + sink.depth == 200
    finally:
        await cache.aclose()
