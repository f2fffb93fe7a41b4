"""Arbitrary and malformed requests and metadata against a real server process: it never
crashes, never answers UNKNOWN or INTERNAL, and stays healthy."""

from __future__ import annotations

import re
from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recsvc.api.v1 import recommender_pb2 as rpb
from tests.recsvc.conftest import TOKEN, Published, start_recsvc_process

pytestmark = pytest.mark.timeout(120)

UNARY = (
    "/recsvc.api.v1.Recommender/Recommend",
    "/recsvc.api.v1.Recommender/Info",
    "/recsvc.api.v1.Segments/ListSegments",
    "/recsvc.api.v1.Segments/ExportSegment",
    "/recsvc.api.v1.Nope/Nothing",
)
STREAM = "/recsvc.api.v1.Segments/Segment"
BAD = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL}
# Metadata keys grpc reserves or the transport owns; the client refuses to send them.
RESERVED = re.compile(r"^(grpc-|:)|^(te|content-type|user-agent|host)$")


@pytest.fixture(scope="module")
def target(published: Published) -> Iterator[str]:
    proc, address = start_recsvc_process(
        published, "recsvc-fuzz",
        RECSVC_SEGMENT_TOKENS=TOKEN, RECSVC_GRACE_S="1", RECSVC_DRAIN_DELAY_S="0",
    )
    try:
        yield address
        assert proc.alive(), proc.output()
        out = proc.output()
        assert '"level": "ERROR"' not in out, out[-3000:]
        assert "@example.com" not in out  # no personal data in logs, whatever was sent
    finally:
        assert proc.stop() == 0, proc.output()[-3000:]


@pytest.fixture(scope="module")
def channel(target: str) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(target) as ch:
        yield ch


texts = st.text(max_size=300)
ids = st.lists(texts, max_size=120)
recommend_requests = st.builds(
    lambda user, k, viewed, cart, category, exclude: rpb.RecommendRequest(
        user_id=user, k=k, context=rpb.RecommendContext(
            viewed_product_id=viewed, cart_product_ids=cart, category=category,
            exclude_product_ids=exclude)).SerializeToString(),
    texts, st.integers(-(2**31), 2**31 - 1), texts, ids, texts, ids,
)
bodies = st.one_of(st.binary(max_size=3000), recommend_requests)
ascii_values = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=200)
metadata = st.lists(
    st.one_of(
        st.tuples(st.from_regex(r"\A[a-z0-9_.-]{1,20}\Z").filter(lambda k: not RESERVED.search(k)
                                                                 and not k.endswith("-bin")),
                  ascii_values),
        st.tuples(st.sampled_from(["authorization", "x-request-id"]),
                  st.one_of(ascii_values, st.just(f"Bearer {TOKEN}"))),
    ),
    max_size=4,
)


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(method=st.sampled_from([*UNARY, STREAM]), body=bodies, md=metadata)
def test_arbitrary_requests_never_crash_or_answer_unknown(
    channel: grpc.Channel, method: str, body: bytes, md: list[tuple[str, str]]
) -> None:
    try:
        if method == STREAM:
            for _ in channel.unary_stream(method)(body, metadata=md, timeout=5):
                pass
        else:
            channel.unary_unary(method)(body, metadata=md, timeout=5)
    except grpc.RpcError as exc:
        assert exc.code() not in BAD, (exc.code(), exc.details())


def test_still_healthy_after_the_fuzzing(channel: grpc.Channel) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    check = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)  # type: ignore[attr-defined]
    assert check.status == health_pb2.HealthCheckResponse.SERVING
