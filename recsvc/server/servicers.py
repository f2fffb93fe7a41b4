"""gRPC servicers: convert proto <-> models and await the use cases; no rules, no try/except."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from grpc.aio import ServicerContext

from recsvc import observability
from recsvc.answers import Answers
from recsvc.api.v1 import recommender_pb2 as rpb
from recsvc.api.v1 import recommender_pb2_grpc as rpb_grpc
from recsvc.api.v1 import segments_pb2 as spb
from recsvc.api.v1 import segments_pb2_grpc as spb_grpc
from recsvc.exports import ExportService
from recsvc.recommender import Recommender
from recsvc.segments import SegmentService
from recsvc.server import convert, track_convert
from recsvc.sessions import Shopper
from recsvc.tracking import EventIntake

__all__ = ["RecommenderServicer", "SegmentsServicer"]


class RecommenderServicer(rpb_grpc.RecommenderServicer):
    def __init__(
        self,
        recommender: Recommender,
        answers: Answers[rpb.RecommendResponse],
        intake: EventIntake,
        max_track_bytes: int,
    ) -> None:
        self._recommender = recommender
        self._answers = answers
        self._intake = intake
        self._max_track_bytes = max_track_bytes

    async def Recommend(  # noqa: N802 - gRPC method name
        self, request: rpb.RecommendRequest, context: ServicerContext[Any, Any]
    ) -> rpb.RecommendResponse:
        return await self._answers.answer(
            request.SerializeToString(deterministic=True),
            Shopper(request.user_id, request.session_id),
            lambda: convert.recommend_query(request),
            convert.recommend_response,
            context.time_remaining(),
        )

    async def SimilarItems(  # noqa: N802
        self, request: rpb.SimilarItemsRequest, context: ServicerContext[Any, Any]
    ) -> rpb.RecommendResponse:
        query = track_convert.similar_query(request)
        result = await self._recommender.recommend(query, context.time_remaining())
        observability.annotate(
            source=result.source.value, generation=result.generation, items=len(result.items)
        )
        return convert.recommend_response(result)

    async def Track(  # noqa: N802
        self, request: rpb.TrackRequest, context: ServicerContext[Any, Any]
    ) -> rpb.TrackResponse:
        events = track_convert.track_events(request, self._max_track_bytes)
        result = await self._intake.track(events)
        observability.annotate(items=len(result.outcomes))
        return track_convert.track_response(result)

    async def Info(  # noqa: N802
        self, request: rpb.InfoRequest, context: ServicerContext[Any, Any]
    ) -> rpb.InfoResponse:
        manifest = await self._recommender.info(context.time_remaining())
        observability.annotate(generation=manifest.generation)
        return convert.info_response(manifest)


class SegmentsServicer(spb_grpc.SegmentsServicer):
    def __init__(self, segments: SegmentService, exports: ExportService) -> None:
        self._segments = segments
        self._exports = exports

    async def ListSegments(  # noqa: N802
        self, request: spb.ListSegmentsRequest, context: ServicerContext[Any, Any]
    ) -> spb.ListSegmentsResponse:
        listing = await self._segments.list_segments()
        observability.annotate(generation=listing.generation)
        return convert.list_segments_response(listing)

    async def Segment(  # noqa: N802
        self, request: spb.SegmentRequest, context: ServicerContext[Any, Any]
    ) -> AsyncIterator[spb.SegmentMember]:
        query = convert.segment_query(request)
        sent = 0
        async for streamed in self._segments.stream(query):
            if not sent:
                observability.annotate(generation=streamed.generation)
            sent += 1
            observability.annotate(members=sent)
            yield convert.segment_member(streamed)

    async def ExportSegment(  # noqa: N802
        self, request: spb.ExportSegmentRequest, context: ServicerContext[Any, Any]
    ) -> spb.ExportSegmentResponse:
        query = convert.export_query(request)
        done = await self._exports.export(query)
        observability.annotate(generation=done.result.generation, members=done.result.members)
        return convert.export_response(done)
