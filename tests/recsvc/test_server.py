"""The gRPC API through a real channel to a real server (DynamoDB on moto)."""

from __future__ import annotations

import logging
from functools import partial

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from generation import Profile, layout
from recsvc.api.v1 import recommender_pb2 as rpb
from recsvc.api.v1 import recommender_pb2_grpc as rpb_grpc
from recsvc.api.v1 import segments_pb2 as spb
from recsvc.api.v1 import segments_pb2_grpc as spb_grpc
from recsvc.observability import JsonFormatter
from recsvc.requests import recommend_request
from recsvc.segments import encode_token
from tests.conftest import dynamodb_client
from tests.recsvc import seed
from tests.recsvc.conftest import Published, Running, StartServer, auth

pytestmark = pytest.mark.timeout(60)


def recommender(r: Running) -> rpb_grpc.RecommenderStub:
    return rpb_grpc.RecommenderStub(r.channel)


def segments(r: Running) -> spb_grpc.SegmentsStub:
    return spb_grpc.SegmentsStub(r.channel)


# Recommend requests with k=10 unless a test says otherwise.
request = partial(recommend_request, k=10)


def ids(response: rpb.RecommendResponse) -> list[str]:
    return [i.product_id for i in response.items]


async def test_known_and_unknown_users_differ(server: Running, published: Published) -> None:
    known = await recommender(server).Recommend(request("u0001"), timeout=5)
    unknown = await recommender(server).Recommend(request("someone-new"), timeout=5)
    assert known.source == rpb.SOURCE_STORE and unknown.source == rpb.SOURCE_FALLBACK
    assert known.generation == unknown.generation == published.generation
    assert len(known.items) == len(unknown.items) == 10
    assert ids(known) != ids(unknown)
    scores = [i.score for i in known.items]
    assert scores == sorted(scores, reverse=True)


async def test_second_call_comes_from_the_cache(server: Running) -> None:
    first = await recommender(server).Recommend(request("u0010", k=4), timeout=5)
    second = await recommender(server).Recommend(request("u0010", k=4), timeout=5)
    assert (first.source, second.source) == (rpb.SOURCE_STORE, rpb.SOURCE_CACHE)
    assert ids(first) == ids(second)


async def test_category_filter(server: Running) -> None:
    for user in ("u0011", "nobody"):
        r = await recommender(server).Recommend(request(user, k=6, category="shirts"), timeout=5)
        assert len(r.items) == 6 and {seed.category_of(p) for p in ids(r)} == {"shirts"}


async def test_excluded_cart_viewed_bought_and_out_of_stock_never_returned(
    server: Running, published: Published
) -> None:
    profile = next(p for p in published.data.profiles if p.user_id == "u0012")
    top = [i.product_id for i in profile.recommendations]
    ctx = {"viewed_product_id": top[0], "cart_product_ids": [top[1], top[4]],
           "exclude_product_ids": [top[5], "P002"]}
    forbidden = {top[0], top[1], top[4], top[5], "P002", *seed.OUT_OF_STOCK, *profile.purchased}
    for user in ("u0012", "nobody"):
        r = await recommender(server).Recommend(request(user, k=100, **ctx), timeout=5)
        assert r.items and not set(ids(r)) & forbidden
        assert len(set(ids(r))) == len(r.items)


BAD_RECOMMENDS = [
    (request(""), "user_id"),
    (request("u" * 129), "user_id"),
    (request("u0001", k=101), "k"),
    (request("u0001", k=-1), "k"),
    (request("u0001", cart_product_ids=[f"P{n}" for n in range(101)]), "context.cart_product_ids"),
    (request("u0001", exclude_product_ids=[f"P{n}" for n in range(101)]),
     "context.exclude_product_ids"),
    (request("u0001", exclude_product_ids=["P1", "x" * 129]), "context.exclude_product_ids[1]"),
    (request("u0001", cart_product_ids=[""]), "context.cart_product_ids[0]"),
    (request("u0001", viewed_product_id="v" * 129), "context.viewed_product_id"),
    (request("u0001", category="c" * 129), "context.category"),
]


@pytest.mark.parametrize(("req", "field"), BAD_RECOMMENDS, ids=[f for _, f in BAD_RECOMMENDS])
async def test_bad_recommend_requests(
    server: Running, req: rpb.RecommendRequest, field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await recommender(server).Recommend(req, timeout=5)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith(f"{field}:")


async def test_info(server: Running, published: Published) -> None:
    info = await recommender(server).Info(rpb.InfoRequest(), timeout=5)
    assert info.generation == published.generation
    assert info.counts["users"] == seed.N_USERS and info.metrics["ndcg@10"] == pytest.approx(0.31)
    # The batch job's model choice: what is served, why, settings, candidates best first.
    assert info.model.served == "ranker" and info.model.reason == seed.MODEL_CHOICE.reason
    assert dict(info.model.settings) == seed.MODEL_CHOICE.settings
    assert [c.validation_ndcg_at_10 for c in info.model.candidates] == pytest.approx(
        [0.33, 0.31, 0.12]
    )
    assert info.model.candidates[0].settings == "family=ease, lambda=400"


async def test_request_id_is_echoed(server: Running) -> None:
    call = recommender(server).Recommend(request("u0001"), timeout=5,
                                         metadata=(("x-request-id", "req-123"),))
    await call
    assert ("x-request-id", "req-123") in list(await call.initial_metadata())


async def test_list_segments(server: Running, published: Published) -> None:
    r = await segments(server).ListSegments(spb.ListSegmentsRequest(), timeout=5, metadata=auth())
    assert [(s.name, s.size) for s in r.segments] == [("high_value", seed.HIGH_VALUE_SIZE),
                                                     ("lapsed", 3)]
    assert r.generation == published.generation


async def test_stream_pages_and_resume_give_every_member_once(
    server: Running, published: Published
) -> None:
    expected = [m.user_id for m in seed.members_of(published.data, "high_value")]
    head = [m async for m in segments(server).Segment(
        spb.SegmentRequest(name="high_value", page_size=7, limit=50), timeout=10, metadata=auth())]
    assert len(head) == 50
    tail = [m async for m in segments(server).Segment(
        spb.SegmentRequest(name="high_value", page_size=13, resume_token=head[-1].resume_token),
        timeout=10, metadata=auth())]
    got = [m.user_id for m in head + tail]
    assert got == expected
    assert head[0].email == f"{expected[0]}@example.com" and head[0].attributes["country"] == "DE"
    assert {m.generation for m in head + tail} == {published.generation}


@pytest.mark.parametrize("metadata", [(), auth("wrong"), (("authorization", "Bearer "),),
                                      (("authorization", f"Basic {'s3cret-token'}"),)])
async def test_segments_need_a_valid_token(server: Running, metadata: tuple) -> None:  # type: ignore[type-arg]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await segments(server).ListSegments(spb.ListSegmentsRequest(), timeout=5, metadata=metadata)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as err:
        [m async for m in segments(server).Segment(spb.SegmentRequest(name="lapsed"), timeout=5,
                                                   metadata=metadata)]
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_no_tokens_configured_refuses_segments(
    start_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        r = await start_server(segment_tokens="")
    assert "RECSVC_SEGMENT_TOKENS is empty" in caplog.text
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await segments(r).ListSegments(spb.ListSegmentsRequest(), timeout=5, metadata=auth())
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert (await recommender(r).Recommend(request("u0001"), timeout=5)).items


BAD_SEGMENTS = [
    (spb.SegmentRequest(name="nope"), grpc.StatusCode.NOT_FOUND, "nope"),
    (spb.SegmentRequest(name=""), grpc.StatusCode.INVALID_ARGUMENT, "name:"),
    (spb.SegmentRequest(name="n" * 129), grpc.StatusCode.INVALID_ARGUMENT, "name:"),
    (spb.SegmentRequest(name="lapsed", page_size=1001), grpc.StatusCode.INVALID_ARGUMENT,
     "page_size:"),
    (spb.SegmentRequest(name="lapsed", page_size=-1), grpc.StatusCode.INVALID_ARGUMENT,
     "page_size:"),
    (spb.SegmentRequest(name="lapsed", limit=-1), grpc.StatusCode.INVALID_ARGUMENT, "limit:"),
    (spb.SegmentRequest(name="lapsed", resume_token="%%%garbage"),
     grpc.StatusCode.INVALID_ARGUMENT, "resume_token:"),
    (spb.SegmentRequest(name="lapsed", resume_token=encode_token("old-gen", "u0001")),
     grpc.StatusCode.INVALID_ARGUMENT, "resume_token:"),
]


@pytest.mark.parametrize(("req", "code", "text"), BAD_SEGMENTS,
                         ids=[f"{c.name}-{t}" for _, c, t in BAD_SEGMENTS])
async def test_bad_segment_requests(server: Running, req: spb.SegmentRequest,
                                    code: grpc.StatusCode, text: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        [m async for m in segments(server).Segment(req, timeout=5, metadata=auth())]
    assert err.value.code() == code
    assert text in err.value.details()


async def test_unexpected_errors_are_internal_and_logged_without_user_ids(
    server: Running, published: Published, caplog: pytest.LogCaptureFixture
) -> None:
    """A corrupt profile item (not a protobuf payload) is a bug somewhere: INTERNAL, a
    generic message, and a log line with the stack but without the user id or the item
    content."""
    item = layout.profile_item(published.generation, Profile("corrupt-user-77"))
    item[layout.DATA] = {"B": b"\xff\xffcorrupt-user-77 not a payload"}
    dynamodb_client(published.endpoint).put_item(TableName=published.table, Item=item)
    with caplog.at_level(logging.INFO):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await recommender(server).Recommend(request("corrupt-user-77"), timeout=5)
    assert err.value.code() == grpc.StatusCode.INTERNAL
    assert err.value.details() == "internal error"
    lines = [JsonFormatter().format(rec) for rec in caplog.records]
    assert any('"exc_type": "DecodeError"' in line for line in lines)
    assert any('"status": "INTERNAL"' in line for line in lines)
    assert not any("corrupt-user-77" in line for line in lines)


async def test_health_serving_for_every_service(server: Running) -> None:
    stub = health_pb2_grpc.HealthStub(server.channel)
    for name in ("", "recsvc.api.v1.Recommender", "recsvc.api.v1.Segments"):
        r = await stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
        assert r.status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Check(health_pb2.HealthCheckRequest(service="nope"), timeout=5)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_reflection_lists_the_services(server: Running) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(server.channel)
    call = stub.ServerReflectionInfo(timeout=5)
    await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
    response = await call.read()
    await call.done_writing()
    names = {s.name for s in response.list_services_response.service}
    assert {"recsvc.api.v1.Recommender", "recsvc.api.v1.Segments",
            "grpc.health.v1.Health"} <= names
