"""The service's request and response values (no I/O, no grpc); stored values live in
``generation``."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from generation import ScoredItem


class Source(enum.Enum):
    """Where a recommendation came from (mirrors the proto's Source enum)."""

    CACHE = "cache"
    STORE = "store"
    FALLBACK = "fallback"
    # No batch profile: built from the neighbours of recent events and the page context.
    SESSION = "session"


@dataclass(frozen=True, slots=True)
class RecommendQuery:
    """A validated Recommend request (bounds enforced by server/convert.py). At least one
    of user_id and session_id is set."""

    user_id: str
    k: int = 10
    viewed_product_id: str = ""
    cart_product_ids: tuple[str, ...] = ()
    category: str = ""
    exclude_product_ids: tuple[str, ...] = ()
    session_id: str = ""
    # SimilarItems: the products to find similar ones for (their neighbours lead).
    similar_to: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Recommendation:
    items: tuple[ScoredItem, ...]
    source: Source
    # The generation the answer was computed from; "" when none is known.
    generation: str
    # False when a store failure shaped the answer (fallback, or context/facts left out):
    # asking again may give a better one, so it must not be remembered.
    complete: bool = True
    # The session memory could not be read: the answer ignores recent events.
    without_session: bool = False
    # Names the answer for the impressions and clicks that will refer to it.
    recommendation_id: str = ""
    # The shopper's stored events the answer used, as bytes (b"" when none); None when
    # they could not be read. Part of what the answer depends on (the memo's key).
    session_state: bytes | None = b""


@dataclass(frozen=True, slots=True)
class SegmentQuery:
    """A validated Segment request."""

    name: str
    page_size: int = 100
    resume_token: str = ""
    # Stop after this many members; 0: all.
    limit: int = 0
