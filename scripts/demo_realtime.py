"""The demo's real-time part: Track events of an anonymous visitor and of a known
customer, the answers that follow, and the next run of the job counting them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import grpc

from loopback.waiting import poll_for
from recsvc.api.v1 import recommender_pb2 as rpb
from recsvc.api.v1 import recommender_pb2_grpc as rgrpc
from recsvc.requests import recommend_request

SOURCE = {rpb.SOURCE_CACHE: "CACHE", rpb.SOURCE_STORE: "STORE", rpb.SOURCE_FALLBACK: "FALLBACK",
          rpb.SOURCE_SESSION: "SESSION"}


def say(title: str) -> None:
    print(f"\n\033[1m== {title}\033[0m", flush=True)



def show_recs(
    title: str, resp: rpb.RecommendResponse, catalogue: dict[str, tuple[str, str, float]]
) -> None:
    say(title)
    print(f"source={SOURCE.get(resp.source, resp.source)} generation={resp.generation}")
    print(
        f"  {'#':>2}  {'product':<10} {'name':<34} {'category':<16} {'price':>8}  "
        f"{'score':>7}  reason"
    )
    for i, item in enumerate(resp.items, 1):
        name, category, price = catalogue.get(item.product_id, ("?", "?", 0.0))
        print(
            f"  {i:>2}  {item.product_id:<10} {name[:34]:<34} {category[:16]:<16} {price:>8.2f}  "
            f"{item.score:>7.3f}  {item.reason}"
        )



def track(
    rec: rgrpc.RecommenderStub,
    catalogue: dict[str, tuple[str, str, float]],
    event_type: int,
    product: str,
    **shopper: str,
) -> None:
    """One event of one shopper, as the shop's frontend sends it."""
    event = rpb.Event(event_id=uuid.uuid4().hex, event_type=event_type, product_id=product,
                      client_time_ms=int(time.time() * 1000), **shopper)
    status = rec.Track(rpb.TrackRequest(events=[event]), timeout=5).statuses[0]
    outcome = rpb.EventStatus.Outcome.Name(status.outcome)
    name = catalogue.get(product, ("?", "", 0.0))[0]
    print(f"  Track {rpb.EventType.Name(event_type):<12} {product:<8} {name[:34]:<34} {outcome}")


def realtime(
    rec: rgrpc.RecommenderStub,
    user: str,
    known: rpb.RecommendResponse,
    catalogue: dict[str, tuple[str, str, float]],
) -> None:
    """Events count on the very next call: an anonymous visitor, then a known customer."""
    session = f"visitor-{uuid.uuid4().hex[:8]}"
    before = rec.Recommend(rpb.RecommendRequest(session_id=session, k=6), timeout=5)
    say(f"Real time: an anonymous visitor (session {session}) views two products")
    print(f"  before: source={SOURCE.get(before.source)} "
          f"({', '.join(i.reason for i in before.items[:2])}, ...)")
    # Two products of one category, far down the popular list: what this visitor wants.
    popular = {i.product_id for i in before.items}
    first = next(p for p, v in sorted(catalogue.items()) if p not in popular)
    second = next(p for p, v in sorted(catalogue.items())
                  if v[1] == catalogue[first][1] and p not in (first, *popular))
    track(rec, catalogue, rpb.VIEW, first, session_id=session)
    track(rec, catalogue, rpb.VIEW, second, session_id=session)
    after = rec.Recommend(rpb.RecommendRequest(session_id=session, k=6), timeout=5)
    show_recs(f"Recommend session_id={session} k=6 (the next call)", after, catalogue)
    similar = rec.SimilarItems(rpb.SimilarItemsRequest(product_ids=[second], k=4), timeout=5)
    show_recs(f"SimilarItems product_ids=[{second}] k=4 (a product page)", similar, catalogue)

    say(f"Real time: known customer {user} views three products")
    # Three products of one category the customer's list does not show.
    shown = {i.product_id for i in known.items}
    shown_categories = {catalogue.get(p, ("", "", 0.0))[1] for p in shown}
    wanted = next(v[1] for _, v in sorted(catalogue.items()) if v[1] not in shown_categories)
    views = [p for p, v in sorted(catalogue.items()) if v[1] == wanted and p not in shown][:3]
    for product in views:
        track(rec, catalogue, rpb.VIEW, product, user_id=user)
    changed = rec.Recommend(recommend_request(user, 8), timeout=5)
    show_recs(f"Recommend user_id={user} k=8 (after the views)", changed, catalogue)
    moved = len({i.product_id for i in changed.items} - {i.product_id for i in known.items})
    print(f"\n{moved} of {len(changed.items)} products are new since the views "
          f"(the batch list was computed last night)")


def next_night(target: str, run_job: Callable[[], None]) -> None:
    """The next run of the job reads what Track delivered through Firehose."""
    with grpc.insecure_channel(target) as channel:
        rec = rgrpc.RecommenderStub(channel)
        before = rec.Info(rpb.InfoRequest(), timeout=5)
        time.sleep(1.5)  # the service flushes its Firehose buffer every second
        say("The next run of the job: Track's events arrive through Firehose")
        run_job()
        poll_for(lambda: rec.Info(rpb.InfoRequest(), timeout=5).generation != before.generation,
                 30, "the service to serve the new generation")
        after = rec.Info(rpb.InfoRequest(), timeout=5)
    for name in ("input_events_valid", "input_events_anonymous"):
        was, now = before.counts.get(name, 0), after.counts.get(name, 0)
        print(f"  {name:<24} {was:>8} -> {now:>8}  (+{now - was})")
