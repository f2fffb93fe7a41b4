"""The value types of a published generation: frozen, plain, no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, overload

from generation.formats import FORMAT_VERSION

__all__ = [
    "CatalogueFacts",
    "ScoredList",
    "rows",
    "HistoryEntry",
    "Manifest",
    "ModelChoice",
    "ModelTrial",
    "Neighbours",
    "Pointer",
    "PopularList",
    "ProductFacts",
    "Profile",
    "ScoredItem",
    "SegmentInfo",
    "SegmentMember",
]


class ScoredItem(NamedTuple):
    """One ranked product. A named tuple, not a dataclass: serving builds a hundred or more
    per call, and a frozen dataclass costs twice as much to construct."""

    product_id: str
    score: float
    reason: str = ""


class ScoredList(Sequence[ScoredItem]):
    """A ranked list as the payload stores it, three parallel tuples, behaving as a
    sequence of ScoredItem. What decoding returns: a reader that caches decoded values
    holds one object the garbage collector tracks per list instead of one per item (tuples
    of strings and floats are not tracked at all), so full collections stay short however
    many lists are cached, and ranking reads the arrays (``rows``) without building items."""

    __slots__ = ("ids", "reasons", "scores")

    def __init__(self, ids: tuple[str, ...], scores: tuple[float, ...],
                 reasons: tuple[str, ...]) -> None:
        self.ids, self.scores, self.reasons = ids, scores, reasons

    def rows(self) -> Iterator[tuple[str, float, str]]:
        """(id, score, reason) per item, as plain tuples."""
        return zip(self.ids, self.scores, self.reasons, strict=True)

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, index: int) -> ScoredItem: ...

    @overload
    def __getitem__(self, index: slice) -> ScoredList: ...

    def __getitem__(self, index: int | slice) -> ScoredItem | ScoredList:
        if isinstance(index, slice):
            return ScoredList(self.ids[index], self.scores[index], self.reasons[index])
        return ScoredItem(self.ids[index], self.scores[index], self.reasons[index])

    def __iter__(self) -> Iterator[ScoredItem]:
        return map(ScoredItem, self.ids, self.scores, self.reasons)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ScoredList):
            return (self.ids, self.scores, self.reasons) == (other.ids, other.scores,
                                                             other.reasons)
        if isinstance(other, Sequence) and not isinstance(other, str):
            return tuple(self) == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"ScoredList({list(self)!r})"


def rows(items: Sequence[ScoredItem]) -> Iterable[tuple[str, float, str]]:
    """(id, score, reason) of each item, without building items for a ScoredList."""
    return items.rows() if isinstance(items, ScoredList) else items


@dataclass(frozen=True, slots=True)
class Profile:
    """What the batch job knows about one user, as published in one generation."""

    user_id: str
    recommendations: Sequence[ScoredItem] = ()
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
class ProductFacts:
    """What serving needs to know about a candidate product: its category and stock."""

    category: str
    in_stock: bool


@dataclass(frozen=True, slots=True)
class CatalogueFacts:
    """Category and stock of many products as parallel sequences: product i is
    (product_ids[i], categories[category_codes[i]], in_stock[i])."""

    categories: tuple[str, ...]
    product_ids: Sequence[str]
    category_codes: Sequence[int]
    in_stock: Sequence[bool]

    def __len__(self) -> int:
        return len(self.product_ids)


@dataclass(frozen=True, slots=True)
class Neighbours:
    """Item-to-item similar products of one product (in stock at publish time)."""

    product_id: str
    category: str = ""
    in_stock: bool = True
    items: Sequence[ScoredItem] = ()

    @property
    def facts(self) -> ProductFacts:
        return ProductFacts(self.category, self.in_stock)


@dataclass(frozen=True, slots=True)
class PopularList:
    """Popular products overall (category "") or within one category, best first."""

    category: str
    items: Sequence[ScoredItem] = ()


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
class ModelTrial:
    """One candidate the job tried on its validation split."""

    name: str  # "ranker" or a baseline's name
    settings: dict[str, str] = field(default_factory=dict)
    validation_ndcg_at_10: float = 0.0
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class ModelChoice:
    """What the job serves for this shop ("ranker" or a baseline), why, and what it tried."""

    served: str
    reason: str = ""
    settings: dict[str, str] = field(default_factory=dict)
    trials: tuple[ModelTrial, ...] = ()
    budget_s: float = 0.0
    used_s: float = 0.0
    tuned_at: str = ""  # when its trials ran (ISO, UTC); runs in between carry the choice


@dataclass(frozen=True, slots=True)
class Manifest:
    """Everything about one generation that is not per user or per item."""

    generation: str
    published_at: str
    counts: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    segments: tuple[SegmentInfo, ...] = ()
    categories: tuple[str, ...] = ()
    # The payload format the generation is written in (see formats.py).
    format_version: int = FORMAT_VERSION
    model: ModelChoice | None = None  # None: written before the job chose models per shop


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One change of the served generation (the pointer's history, newest last)."""

    generation: str
    at: str
    action: str  # "published" or "rolled back"
    previous: str = ""


@dataclass(frozen=True, slots=True)
class Pointer:
    """The pointer item: which generation readers serve, the format it is written in, and
    the table that holds its items ("": the pointer's own table; a generation published by
    import from S3 has a table of its own)."""

    generation: str
    published_at: str
    format_version: int
    table: str = ""
