"""`python -m recsvc serve` as a real process: SIGTERM with a call in flight drains cleanly;
several workers share one port and stop together."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
import time
import urllib.request
from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from loopback.ports import ports_outside_ephemeral
from loopback.processes import Proc
from loopback.waiting import poll_for
from recsvc.api.v1 import recommender_pb2 as rpb
from recsvc.api.v1 import recommender_pb2_grpc as rpb_grpc
from recsvc.api.v1 import segments_pb2 as spb
from recsvc.api.v1 import segments_pb2_grpc as spb_grpc
from tests.recsvc import seed
from tests.recsvc.conftest import TOKEN, Published, auth, start_recsvc_process

pytestmark = pytest.mark.timeout(90)

GRACE_S = 10.0


@pytest.fixture
def serve(published: Published) -> Iterator[tuple[Proc, str]]:
    proc, target = start_recsvc_process(
        published,
        "recsvc-serve",
        RECSVC_SEGMENT_TOKENS=TOKEN,
        RECSVC_GRACE_S=str(GRACE_S),
        # Stop accepting at once, so the stream below is surely in flight at stop().
        RECSVC_DRAIN_DELAY_S="0",
    )
    try:
        yield proc, target
    finally:
        if proc.stop() not in (0, None):
            print(proc.output(), file=sys.stderr)


async def test_sigterm_drains_in_flight_calls_and_exits_zero(
    serve: tuple[Proc, str], published: Published
) -> None:
    proc, target = serve
    async with grpc.aio.insecure_channel(target) as channel:
        answer = await rpb_grpc.RecommenderStub(channel).Recommend(
            rpb.RecommendRequest(user_id="u0001", k=3), timeout=10
        )
        assert len(answer.items) == 3

        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""))
        assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING

        # One store page per member: the stream takes a while, and we read it slowly.
        stream = spb_grpc.SegmentsStub(channel).Segment(
            spb.SegmentRequest(name="high_value", page_size=1), timeout=60, metadata=auth()
        )
        received = [(await stream.read()).user_id]
        signalled = time.monotonic()
        proc.signal(signal.SIGTERM)

        status = await asyncio.wait_for(watch.read(), 5)
        assert status.status == health_pb2.HealthCheckResponse.NOT_SERVING
        # The watch ends by itself (OK): an open one would hold the drain for the grace.
        assert await asyncio.wait_for(watch.read(), 5) is grpc.aio.EOF
        assert await watch.code() == grpc.StatusCode.OK

        while (member := await stream.read()) is not grpc.aio.EOF:
            received.append(member.user_id)
            await asyncio.sleep(0.001)
        assert await stream.code() == grpc.StatusCode.OK

    assert received == [m.user_id for m in seed.members_of(published.data, "high_value")]
    poll_for(lambda: not proc.alive(), GRACE_S + 5, "the server to exit")
    took = time.monotonic() - signalled
    output = proc.output()
    assert proc.popen.returncode == 0, output
    assert took < GRACE_S, f"exit took {took:.1f}s: the drain waited for nothing"
    assert re.search(r"draining [1-9]\d* in-flight calls", output), output
    assert "shut down cleanly" in output

    access = [json.loads(line) for line in output.splitlines()
              if line.startswith("{") and '"logger": "recsvc.access"' in line]
    segment_call = next(a for a in access if a["method"] == "/recsvc.api.v1.Segments/Segment")
    assert segment_call["status"] == "OK"
    assert segment_call["members"] == seed.HIGH_VALUE_SIZE
    assert {"request_id", "latency_ms", "generation"} <= set(segment_call)
    # No personal data in the logs: neither user ids nor emails.
    assert "u0001" not in output and "@example.com" not in output


def free_port_pair() -> int:
    """Two free ports (worker 1 serves metrics on the second), below the ephemeral range:
    a port free_port() found can be taken by an outgoing connection before the worker
    binds it (a run failed with "Address already in use")."""
    return ports_outside_ephemeral(2)


async def test_workers_share_one_port_and_stop_together(published: Published) -> None:
    metrics = free_port_pair()
    proc, target = start_recsvc_process(
        published, "recsvc-workers",
        RECSVC_WORKERS="2", RECSVC_METRICS_PORT=str(metrics), RECSVC_DRAIN_DELAY_S="0",
    )
    try:
        try:
            poll_for(lambda: proc.output().count("recsvc listening on") == 2, 60,
                     "both workers to listen")
        except TimeoutError as exc:  # say what the workers were doing
            raise AssertionError(proc.output()[-4000:]) from exc
        # Port 0 was resolved once, by the supervisor: both workers bound the same port.
        assert set(re.findall(r"recsvc listening on (\S+)", proc.output())) == {target}
        async with grpc.aio.insecure_channel(target) as channel:
            answer = await rpb_grpc.RecommenderStub(channel).Recommend(
                rpb.RecommendRequest(user_id="u0001", k=3), timeout=10
            )
        assert len(answer.items) == 3
        for port in (metrics, metrics + 1):  # worker n: the metrics port + n
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                assert b"recsvc_generation_served" in r.read()
    finally:
        code = proc.stop()
    output = proc.output()
    assert code == 0, output
    assert output.count("shut down cleanly") == 2, output


async def test_bad_setting_names_the_variable_and_exits_2() -> None:
    proc = Proc([sys.executable, "-m", "recsvc", "serve"], env={"RECSVC_GRACE_S": "soon"},
                name="recsvc-bad-settings")
    poll_for(lambda: not proc.alive(), 30, "the process to exit")
    output = proc.output()
    assert proc.stop() == 2, output
    assert "RECSVC_GRACE_S='soon'" in output
