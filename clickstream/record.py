"""One clickstream event as a JSON line: the fields, the event type names and which of
them the nightly job learns from."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["EVENT_TYPES", "MODELLED_TYPES", "PRODUCT_TYPES", "EventRecord"]

# Every event type a line may carry, by its name on the wire.
EVENT_TYPES = (
    "view", "add_to_cart", "remove_from_cart", "purchase", "search", "impression", "click",
)
# What the nightly job learns tastes from; the others are counted and kept for later use
# (a click repeats the view the shop tracks with it; impressions feed no model yet).
MODELLED_TYPES = ("view", "add_to_cart", "purchase")
# Types about one product: product_id is required. impression names its products in
# product_ids; search has a query instead.
PRODUCT_TYPES = ("view", "add_to_cart", "remove_from_cart", "purchase", "click")


@dataclass(frozen=True, slots=True)
class EventRecord:
    """An accepted event as the nightly job reads it. ``ts`` is epoch milliseconds (the
    client's time, or the service's when the client sent none). ``user_id`` is empty for
    anonymous shoppers, who are known by ``session_id`` alone."""

    event_id: str
    ts: int
    event_type: str
    user_id: str = ""
    session_id: str = ""
    product_id: str = ""
    product_ids: tuple[str, ...] = ()
    quantity: int = 0
    price: float | None = None
    query: str = ""
    recommendation_id: str = ""

    def to_json_line(self) -> bytes:
        """The record as one newline-terminated JSON object; empty optional fields are
        left out so lines stay short."""
        out: dict[str, Any] = {"event_id": self.event_id, "ts": self.ts,
                               "event_type": self.event_type}
        for name in ("user_id", "session_id", "product_id", "query", "recommendation_id"):
            value = getattr(self, name)
            if value:
                out[name] = value
        if self.product_ids:
            out["product_ids"] = list(self.product_ids)
        if self.quantity:
            out["quantity"] = self.quantity
        if self.price is not None:
            out["price"] = self.price
        return json.dumps(out, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"

    @classmethod
    def from_json(cls, line: bytes | str) -> EventRecord:
        """The record of one line written by ``to_json_line`` (raises ValueError/KeyError
        on anything else)."""
        raw = json.loads(line)
        return cls(
            event_id=str(raw["event_id"]),
            ts=int(raw["ts"]),
            event_type=str(raw["event_type"]),
            user_id=str(raw.get("user_id", "")),
            session_id=str(raw.get("session_id", "")),
            product_id=str(raw.get("product_id", "")),
            product_ids=tuple(map(str, raw.get("product_ids", ()))),
            quantity=int(raw.get("quantity", 0)),
            price=float(raw["price"]) if "price" in raw else None,
            query=str(raw.get("query", "")),
            recommendation_id=str(raw.get("recommendation_id", "")),
        )
