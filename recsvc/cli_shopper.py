"""``recsvc recommend``, ``similar`` and ``track``: what a shop's frontend calls, from a
terminal (one shopper at a time, printed as tables)."""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Callable
from typing import Any

from recsvc.tables import table

__all__ = ["EVENT_TYPES", "add_parsers", "calls"]

EVENT_TYPES = ("view", "add_to_cart", "remove_from_cart", "purchase", "search", "impression",
               "click")
SOURCES = {0: "UNSPECIFIED", 1: "CACHE", 2: "STORE", 3: "FALLBACK", 4: "SESSION"}

Client = Callable[[str, str], argparse.ArgumentParser]


def add_parsers(client: Client) -> None:
    rec = client("recommend", "recommendations for one shopper")
    rec.add_argument("user_id", nargs="?", default="", help="customer id (or --session)")
    rec.add_argument("--session", default="", help="session id (anonymous shoppers)")
    rec.add_argument("-k", type=int, default=0, help="how many (default 10)")
    rec.add_argument("--viewed", default="", help="product being viewed")
    rec.add_argument("--cart", nargs="*", default=[], help="products in the cart")
    rec.add_argument("--category", default="", help="only this category")
    rec.add_argument("--exclude", nargs="*", default=[], help="products never to return")

    sim = client("similar", "products similar to some products (product and cart pages)")
    sim.add_argument("product_ids", nargs="+")
    sim.add_argument("-k", type=int, default=0, help="how many (default 10)")
    sim.add_argument("--user", default="", help="personalise for this customer")
    sim.add_argument("--session", default="", help="personalise for this session")
    sim.add_argument("--category", default="", help="only this category")

    tr = client("track", "send one event of a shopper (it counts on their next call)")
    tr.add_argument("event_type", choices=EVENT_TYPES)
    tr.add_argument("product_ids", nargs="*", help="the product (impression: those shown)")
    tr.add_argument("--user", default="", help="customer id")
    tr.add_argument("--session", default="", help="session id")
    tr.add_argument("--query", default="", help="search text (search)")
    tr.add_argument("--quantity", type=int, default=0)
    tr.add_argument("--price", type=float)
    tr.add_argument("--event-id", default="", help="default: a new random id")


def calls(args: argparse.Namespace) -> dict[str, Callable[[Any], str]]:
    from recsvc.api.v1 import recommender_pb2 as rpb
    from recsvc.api.v1 import recommender_pb2_grpc as rpb_grpc
    from recsvc.requests import recommend_request

    def answer(r: Any) -> str:
        rows = [(n, i.product_id, f"{i.score:.4f}", i.reason) for n, i in enumerate(r.items, 1)]
        head = (f"source {SOURCES.get(r.source, r.source)}, generation {r.generation or '-'}, "
                f"recommendation {r.recommendation_id}"
                + (" (without session memory)" if r.without_session else ""))
        return f"{head}\n{table(('#', 'product', 'score', 'reason'), rows)}"

    def recommend(channel: Any) -> str:
        request = recommend_request(
            args.user_id, args.k, session_id=args.session, viewed_product_id=args.viewed,
            cart_product_ids=args.cart, category=args.category,
            exclude_product_ids=args.exclude,
        )
        return answer(rpb_grpc.RecommenderStub(channel).Recommend(request, timeout=args.timeout))

    def similar(channel: Any) -> str:
        request = rpb.SimilarItemsRequest(
            product_ids=args.product_ids, k=args.k, user_id=args.user, session_id=args.session,
            context=rpb.RecommendContext(category=args.category),
        )
        return answer(rpb_grpc.RecommenderStub(channel).SimilarItems(request,
                                                                      timeout=args.timeout))

    def track(channel: Any) -> str:
        shown = args.event_type == "impression"
        event = rpb.Event(
            event_id=args.event_id or uuid.uuid4().hex,
            user_id=args.user,
            session_id=args.session,
            event_type=args.event_type.upper(),
            product_id="" if shown or not args.product_ids else args.product_ids[0],
            shown_product_ids=args.product_ids if shown else [],
            quantity=args.quantity,
            price=args.price,
            query=args.query,
            client_time_ms=int(time.time() * 1000),
        )
        r = rpb_grpc.RecommenderStub(channel).Track(rpb.TrackRequest(events=[event]),
                                                    timeout=args.timeout)
        rows = [(s.event_id, rpb.EventStatus.Outcome.Name(s.outcome), s.reason or "-")
                for s in r.statuses]
        memory = "updated" if r.sessions_updated else "NOT updated (session memory unavailable)"
        return f"session memory {memory}\n{table(('event', 'outcome', 'reason'), rows)}"

    return {"recommend": recommend, "similar": similar, "track": track}
