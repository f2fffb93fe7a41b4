"""Plain value types shared by the service and the batch job (no I/O, no grpc)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ScoredItem:
    product_id: str
    score: float
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Profile:
    """What the batch job knows about one user, as published in one generation."""

    user_id: str
    recommendations: tuple[ScoredItem, ...] = ()
    # Products the user bought (most recent first, capped by the job): never recommended.
    purchased: tuple[str, ...] = ()
    # Products the user interacted with most recently (views, carts), most recent first.
    recent: tuple[str, ...] = ()
    # Category -> share of the user's weighted interactions (sums to <= 1).
    category_affinity: dict[str, float] = field(default_factory=dict)
    # recency_days, frequency, monetary, and 1..5 scores r, f, m.
    rfm: dict[str, float] = field(default_factory=dict)
    segments: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Neighbours:
    """Item-to-item similar products of one product (in stock at publish time)."""

    product_id: str
    category: str = ""
    in_stock: bool = True
    items: tuple[ScoredItem, ...] = ()


@dataclass(frozen=True, slots=True)
class PopularList:
    """Popular products overall (category "") or within one category, best first."""

    category: str
    items: tuple[ScoredItem, ...] = ()


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    name: str
    description: str
    size: int


@dataclass(frozen=True, slots=True)
class SegmentMember:
    user_id: str
    email: str = ""
    marketing_opt_in: bool = False
    # Campaign attributes as text: first_name, country, recency_days, top_category, ...
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Manifest:
    """Everything about one generation that is not per user or per item."""

    generation: str
    published_at: str
    counts: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    segments: tuple[SegmentInfo, ...] = ()
    categories: tuple[str, ...] = ()


# -- request/response values of the online service ------------------------------------------


class Source(enum.Enum):
    """Where a recommendation came from (mirrors the proto's Source enum)."""

    CACHE = "cache"
    STORE = "store"
    FALLBACK = "fallback"


@dataclass(frozen=True, slots=True)
class RecommendQuery:
    """A validated Recommend request (bounds enforced by server/convert.py)."""

    user_id: str
    k: int = 10
    viewed_product_id: str = ""
    cart_product_ids: tuple[str, ...] = ()
    category: str = ""
    exclude_product_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Recommendation:
    items: tuple[ScoredItem, ...]
    source: Source
    # The generation the answer was computed from; "" when none is known.
    generation: str
    # False when a store failure shaped the answer (fallback, or context/facts left out):
    # asking again may give a better one, so it must not be remembered.
    complete: bool = True


@dataclass(frozen=True, slots=True)
class ItemFacts:
    """What serving needs to know about a candidate product (from its Neighbours item)."""

    category: str
    in_stock: bool


@dataclass(frozen=True, slots=True)
class SegmentQuery:
    """A validated Segment request."""

    name: str
    page_size: int = 100
    resume_token: str = ""
    # Stop after this many members; 0: all.
    limit: int = 0


@dataclass(frozen=True, slots=True)
class ExportQuery:
    """A validated ExportSegment request."""

    name: str
    # One of recsvc.export.FORMATS.
    format: str
    # Start the Pinpoint (pinpoint-*) or SES (ses-*) import job of the written file.
    start_import: bool = False
    # SES contact-list topic the members are opted in to; "" for none.
    ses_topic: str = ""
