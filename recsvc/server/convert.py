"""Request validation (InvalidRequest naming the field) and proto <-> model conversion."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from generation import Manifest, ModelChoice
from recsvc.api.v1 import recommender_pb2 as rpb
from recsvc.api.v1 import segments_pb2 as spb
from recsvc.errors import InvalidRequest
from recsvc.exports import export_query as checked_export_query
from recsvc.models import (
    Recommendation,
    RecommendQuery,
    SegmentQuery,
    Source,
)
from recsvc.segments import SegmentList, StreamedMember
from segment_export import ExportQuery, SegmentExport

__all__ = [
    "DEFAULT_K",
    "MAX_ID_CHARS",
    "MAX_K",
    "checked_id",
    "checked_ids",
    "checked_k",
    "context_fields",
    "export_query",
    "export_response",
    "info_response",
    "list_segments_response",
    "recommend_query",
    "recommend_response",
    "segment_member",
    "segment_query",
]

MAX_ID_CHARS = 128
DEFAULT_K = 10
MAX_K = 100
MAX_CONTEXT_IDS = 100
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
# Tokens we issue are ~100 characters; anything much longer is not ours.
MAX_TOKEN_CHARS = 1024

_SOURCES = {
    Source.CACHE: rpb.SOURCE_CACHE,
    Source.STORE: rpb.SOURCE_STORE,
    Source.FALLBACK: rpb.SOURCE_FALLBACK,
    Source.SESSION: rpb.SOURCE_SESSION,
}


def checked_id(field: str, value: str, *, required: bool) -> str:
    if not value:
        if required:
            raise InvalidRequest(field, "is required")
        return ""
    if len(value) > MAX_ID_CHARS:
        raise InvalidRequest(field, f"must be at most {MAX_ID_CHARS} characters, got {len(value)}")
    return value


def checked_ids(field: str, values: Sequence[str]) -> tuple[str, ...]:
    if len(values) > MAX_CONTEXT_IDS:
        raise InvalidRequest(field, f"at most {MAX_CONTEXT_IDS} ids, got {len(values)}")
    for n, value in enumerate(values):
        checked_id(f"{field}[{n}]", value, required=True)
    return tuple(dict.fromkeys(values))


def checked_k(k: int) -> int:
    if not 0 <= k <= MAX_K:
        raise InvalidRequest("k", f"must be 1..{MAX_K} (0 means {DEFAULT_K}), got {k}")
    return k or DEFAULT_K


def context_fields(ctx: rpb.RecommendContext) -> dict[str, Any]:
    """The page context's fields of a RecommendQuery, checked."""
    return {
        "viewed_product_id": checked_id(
            "context.viewed_product_id", ctx.viewed_product_id, required=False
        ),
        "cart_product_ids": checked_ids("context.cart_product_ids", ctx.cart_product_ids),
        "category": checked_id("context.category", ctx.category, required=False),
        "exclude_product_ids": checked_ids(
            "context.exclude_product_ids", ctx.exclude_product_ids
        ),
    }


def recommend_query(request: rpb.RecommendRequest) -> RecommendQuery:
    session = checked_id("session_id", request.session_id, required=False)
    return RecommendQuery(
        # Anonymous shoppers are known by their session alone.
        user_id=checked_id("user_id", request.user_id, required=not session),
        session_id=session,
        k=checked_k(request.k),
        **context_fields(request.context),
    )


def recommend_response(result: Recommendation) -> rpb.RecommendResponse:
    return rpb.RecommendResponse(
        items=[rpb.ScoredItem(product_id=i.product_id, score=i.score, reason=i.reason)
               for i in result.items],
        source=_SOURCES[result.source],
        generation=result.generation,
        recommendation_id=result.recommendation_id,
        without_session=result.without_session,
    )


def info_response(manifest: Manifest) -> rpb.InfoResponse:
    return rpb.InfoResponse(
        generation=manifest.generation,
        published_at=manifest.published_at,
        counts=manifest.counts,
        metrics=manifest.metrics,
        model=_served_model(manifest.model),
    )


def _served_model(choice: ModelChoice | None) -> rpb.ServedModel | None:
    if choice is None:
        return None
    ranked = sorted(choice.trials, key=lambda t: -t.validation_ndcg_at_10)
    return rpb.ServedModel(
        served=choice.served,
        reason=choice.reason,
        settings=choice.settings,
        candidates=[
            rpb.ModelCandidate(
                name=t.name,
                settings=", ".join(f"{k}={v}" for k, v in sorted(t.settings.items())),
                validation_ndcg_at_10=t.validation_ndcg_at_10,
            )
            for t in ranked
        ],
    )


def segment_query(request: spb.SegmentRequest) -> SegmentQuery:
    page_size = request.page_size or DEFAULT_PAGE_SIZE
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidRequest(
            "page_size",
            f"must be 1..{MAX_PAGE_SIZE} (0 means {DEFAULT_PAGE_SIZE}), got {request.page_size}",
        )
    if request.limit < 0:
        raise InvalidRequest("limit", f"must be >= 0 (0 means all), got {request.limit}")
    if len(request.resume_token) > MAX_TOKEN_CHARS:
        raise InvalidRequest("resume_token", "not a token issued by this service")
    return SegmentQuery(
        name=checked_id("name", request.name, required=True),
        page_size=page_size,
        resume_token=request.resume_token,
        limit=request.limit,
    )


def list_segments_response(listing: SegmentList) -> spb.ListSegmentsResponse:
    return spb.ListSegmentsResponse(
        segments=[spb.SegmentInfo(name=s.name, description=s.description, size=s.size)
                  for s in listing.segments],
        generation=listing.generation,
    )


def segment_member(streamed: StreamedMember) -> spb.SegmentMember:
    m = streamed.member
    return spb.SegmentMember(
        user_id=m.user_id,
        email=m.email,
        marketing_opt_in=m.marketing_opt_in,
        attributes=m.attributes,
        resume_token=streamed.resume_token,
        generation=streamed.generation,
    )


def export_query(request: spb.ExportSegmentRequest) -> ExportQuery:
    return checked_export_query(
        request.name, request.format, start_import=request.start_import,
        ses_topic=request.ses_topic,
    )


def export_response(done: SegmentExport) -> spb.ExportSegmentResponse:
    r = done.result
    return spb.ExportSegmentResponse(
        uri=r.uri,
        generation=r.generation,
        members=r.members,
        skipped=r.skipped,
        bytes=r.bytes,
        import_job_id=done.import_job_id,
    )
