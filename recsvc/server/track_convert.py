"""Track and SimilarItems requests: the envelope's checks (InvalidRequest) and each event's
own (a Rejected naming the field), proto -> clickstream records, and the reply."""

from __future__ import annotations

import math
import time

from clickstream import PRODUCT_TYPES, EventRecord
from recsvc.api.v1 import recommender_pb2 as rpb
from recsvc.errors import InvalidRequest
from recsvc.models import RecommendQuery
from recsvc.server.convert import (
    MAX_ID_CHARS,
    checked_id,
    checked_ids,
    checked_k,
    context_fields,
)
from recsvc.tracking import Outcome, Rejected, TrackResult

__all__ = ["MAX_EVENTS", "similar_query", "track_events", "track_response"]

MAX_EVENTS = 100
MAX_QUERY_CHARS = 512
MAX_SHOWN = 100
MAX_QUANTITY = 100_000
# Client clocks drift; a timestamp further ahead than this is a bug, not drift.
MAX_AHEAD_MS = 86_400_000
MIN_TS_MS = 946_684_800_000  # 2000-01-01: earlier is a unit mistake (seconds for ms)

_TYPES = {
    rpb.VIEW: "view", rpb.ADD_TO_CART: "add_to_cart", rpb.REMOVE_FROM_CART: "remove_from_cart",
    rpb.PURCHASE: "purchase", rpb.SEARCH: "search", rpb.IMPRESSION: "impression",
    rpb.CLICK: "click",
}
_OUTCOMES = {
    Outcome.ACCEPTED: rpb.EventStatus.ACCEPTED,
    Outcome.DUPLICATE: rpb.EventStatus.DUPLICATE,
    Outcome.REJECTED: rpb.EventStatus.REJECTED,
}


class _Bad(Exception):
    pass


def _text(field: str, value: str, limit: int = MAX_ID_CHARS) -> str:
    if len(value) > limit:
        raise _Bad(f"{field}: must be at most {limit} characters, got {len(value)}")
    if not value.isprintable():  # tabs and newlines would break the session lines
        raise _Bad(f"{field}: must not contain control characters")
    return value


def _event(e: rpb.Event, now_ms: int) -> EventRecord:
    event_type = _TYPES.get(e.event_type)
    if event_type is None:
        raise _Bad(f"event_type: unknown value {e.event_type}")
    user = _text("user_id", e.user_id)
    session = _text("session_id", e.session_id)
    if not user and not session:
        raise _Bad("user_id: user_id or session_id is required")
    product = _text("product_id", e.product_id)
    if event_type in PRODUCT_TYPES and not product:
        raise _Bad(f"product_id: is required for {event_type}")
    shown = tuple(e.shown_product_ids)
    if event_type == "impression":
        if not 1 <= len(shown) <= MAX_SHOWN:
            raise _Bad(f"shown_product_ids: 1..{MAX_SHOWN} ids for impression, got {len(shown)}")
        for n, pid in enumerate(shown):
            if not _text(f"shown_product_ids[{n}]", pid):
                raise _Bad(f"shown_product_ids[{n}]: must not be empty")
    elif shown:
        raise _Bad(f"shown_product_ids: only for impression, not {event_type}")
    query = _text("query", e.query, MAX_QUERY_CHARS)
    if event_type == "search" and not query:
        raise _Bad("query: is required for search")
    if not 0 <= e.quantity <= MAX_QUANTITY:
        raise _Bad(f"quantity: must be 0..{MAX_QUANTITY}, got {e.quantity}")
    if not math.isfinite(e.price) or e.price < 0:
        raise _Bad(f"price: must be a finite number >= 0, got {e.price}")
    ts = e.client_time_ms or now_ms
    if not MIN_TS_MS <= ts <= now_ms + MAX_AHEAD_MS:
        raise _Bad(f"client_time_ms: {e.client_time_ms} is not a plausible epoch-ms time")
    return EventRecord(
        event_id=e.event_id, ts=ts, event_type=event_type, user_id=user, session_id=session,
        product_id=product, product_ids=shown, quantity=e.quantity,
        price=e.price if e.HasField("price") else None,
        query=query, recommendation_id=_text("recommendation_id", e.recommendation_id),
    )


def track_events(request: rpb.TrackRequest, max_bytes: int) -> list[EventRecord | Rejected]:
    """Raises InvalidRequest for a bad envelope only; each bad event becomes a Rejected."""
    size = request.ByteSize()
    if size > max_bytes:
        raise InvalidRequest(
            "events", f"the call is {size} bytes, over the {max_bytes}-byte limit: send fewer "
            "events per call"
        )
    if not 1 <= len(request.events) <= MAX_EVENTS:
        raise InvalidRequest(
            "events", f"1..{MAX_EVENTS} events per call, got {len(request.events)}"
        )
    now_ms = int(time.time() * 1000)
    out: list[EventRecord | Rejected] = []
    for e in request.events:
        event_type = _TYPES.get(e.event_type, "")
        try:
            if not e.event_id:
                raise _Bad("event_id: is required")
            _text("event_id", e.event_id)
            out.append(_event(e, now_ms))
        except _Bad as bad:
            out.append(Rejected(e.event_id[:MAX_ID_CHARS], event_type, str(bad)))
    return out


def track_response(result: TrackResult) -> rpb.TrackResponse:
    return rpb.TrackResponse(
        statuses=[rpb.EventStatus(event_id=i, outcome=_OUTCOMES[o], reason=r)
                  for i, o, r in result.outcomes],
        sessions_updated=result.sessions_updated,
    )


def similar_query(request: rpb.SimilarItemsRequest) -> RecommendQuery:
    """A SimilarItems request as the query Recommend's rules run on."""
    products = checked_ids("product_ids", request.product_ids)
    if not products:
        raise InvalidRequest("product_ids", "at least one product id is required")
    return RecommendQuery(
        user_id=checked_id("user_id", request.user_id, required=False),
        session_id=checked_id("session_id", request.session_id, required=False),
        k=checked_k(request.k),
        similar_to=products,
        **context_fields(request.context),
    )
