"""Building Recommend requests for Python callers: the CLI, the demo, tests and benchmarks."""

from __future__ import annotations

from collections.abc import Sequence

from recsvc.api.v1 import recommender_pb2 as rpb

__all__ = ["recommend_request"]


def recommend_request(
    user_id: str,
    k: int = 0,
    *,
    viewed_product_id: str = "",
    cart_product_ids: Sequence[str] = (),
    category: str = "",
    exclude_product_ids: Sequence[str] = (),
    session_id: str = "",
) -> rpb.RecommendRequest:
    """A RecommendRequest; the context fields are named as in recommender.proto, and k 0
    means the server's default (10)."""
    return rpb.RecommendRequest(
        user_id=user_id,
        session_id=session_id,
        k=k,
        context=rpb.RecommendContext(
            viewed_product_id=viewed_product_id,
            cart_product_ids=cart_product_ids,
            category=category,
            exclude_product_ids=exclude_product_ids,
        ),
    )
