"""Request pools of the shop-like generation: the shop-like mix and the home page of known users.

shop_like: users drawn with a Zipf skew, 15% of calls from users the job never saw (ids
  drawn with the same skew from a population of unknown ids sized so that they get 15%
  of calls; repeats of them hit the negative cache as repeats of known users hit the
  positive one); 55% of calls with a viewed product, 15% with a cart of 1-3 products
  (products drawn by popularity), a third with a category filter (category drawn by
  popularity; RecommendContext.category), k uniform in 4..12. The three are drawn independently.
home_page: known users drawn with the Zipf skew, no context, no category, k=10.

A pool is POOL independently drawn, pre-serialized requests; the closed-loop clients
cycle through it in order (each from its own offset), so repeated requests come only
from the skew. Pools of another seed warm the server up without repeating the measured
requests' order.
"""

from __future__ import annotations

import random
from typing import Any

from serving.shop import Catalogue, ShopSpec, zipf_cum_weights

POOL = 50_000
UNKNOWN_SHARE = 0.15
VIEWED_SHARE = 0.55
CART_SHARE = 0.15
CATEGORY_SHARE = 1 / 3
K_RANGE = (4, 12)
MEASURED_SEED, WARM_SEED = 101, 202


class Users:
    """Zipf-skewed draws of known user ids (ranks shuffled over the ids) and of unknown ones."""

    def __init__(self, spec: ShopSpec) -> None:
        rng = random.Random(spec.seed)  # the same hot users in every pool of the spec
        self.known = [spec.user_id(n) for n in range(spec.users)]
        rng.shuffle(self.known)
        self.known_cum = zipf_cum_weights(len(self.known))
        # As many unknown ids per known one as their share of calls asks for.
        n_unknown = max(1, round(spec.users * UNKNOWN_SHARE / (1 - UNKNOWN_SHARE)))
        self.unknown = [f"n{n:07d}" for n in range(n_unknown)]
        rng.shuffle(self.unknown)
        self.unknown_cum = zipf_cum_weights(n_unknown)

    def known_user(self, rng: random.Random) -> str:
        return rng.choices(self.known, cum_weights=self.known_cum)[0]

    def any_user(self, rng: random.Random) -> str:
        if rng.random() < UNKNOWN_SHARE:
            return rng.choices(self.unknown, cum_weights=self.unknown_cum)[0]
        return self.known_user(rng)


def _request(rpb: Any, user: str, k: int, category: str = "", viewed: str = "",
             cart: list[str] | None = None) -> bytes:
    context = rpb.RecommendContext(viewed_product_id=viewed, cart_product_ids=cart or [],
                                   category=category)
    return bytes(rpb.RecommendRequest(user_id=user, k=k, context=context).SerializeToString())


def shop_like(spec: ShopSpec, seed: int = MEASURED_SEED, size: int = POOL) -> list[bytes]:
    """The shop-like mix (see the module's docstring)."""
    from recsvc.api.v1 import recommender_pb2 as rpb

    rng = random.Random(seed)
    cat = Catalogue(spec)
    users = Users(spec)
    categories = list(cat.category_weights)
    category_weights = list(cat.category_weights.values())
    out = []
    for _ in range(size):
        user = users.any_user(rng)
        viewed = cat.popular(rng)[0] if rng.random() < VIEWED_SHARE else ""
        cart = (list(dict.fromkeys(cat.popular(rng, rng.randint(1, 3))))
                if rng.random() < CART_SHARE else [])
        category = (rng.choices(categories, category_weights)[0]
                    if rng.random() < CATEGORY_SHARE else "")
        out.append(_request(rpb, user, rng.randint(*K_RANGE), category, viewed, cart))
    return out


def home_page(spec: ShopSpec, seed: int = MEASURED_SEED, size: int = POOL) -> list[bytes]:
    """Known users' home pages: no context, no category, k=10."""
    from recsvc.api.v1 import recommender_pb2 as rpb

    rng = random.Random(seed)
    users = Users(spec)
    return [_request(rpb, users.known_user(rng), 10) for _ in range(size)]


MIXES = {"shop_like": shop_like, "home_page": home_page}


def pool(mix: str, spec: ShopSpec, warm: bool = False) -> list[bytes]:
    """The measured pool of ``mix``, or (``warm``) an independent draw to warm up with."""
    return MIXES[mix](spec, WARM_SEED if warm else MEASURED_SEED)


def describe(payloads: list[bytes]) -> dict[str, Any]:
    """What a pool holds: size, distinct requests, distinct users, shares of each feature."""
    from recsvc.api.v1 import recommender_pb2 as rpb

    parsed = [rpb.RecommendRequest.FromString(p) for p in payloads]
    n = len(parsed) or 1
    return {
        "requests": len(parsed),
        "distinct_requests": len(set(payloads)),
        "distinct_users": len({r.user_id for r in parsed}),
        "unknown_share": round(sum(r.user_id.startswith("n") for r in parsed) / n, 3),
        "viewed_share": round(sum(bool(r.context.viewed_product_id) for r in parsed) / n, 3),
        "cart_share": round(sum(bool(r.context.cart_product_ids) for r in parsed) / n, 3),
        "category_share": round(sum(bool(r.context.category) for r in parsed) / n, 3),
    }
