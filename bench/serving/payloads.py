"""Pre-serialized Recommend requests per scenario kind (hit, context, miss)."""

from __future__ import annotations

import random

from serving.generation import N_PRODUCTS, N_USERS

RECOMMEND = "/recsvc.api.v1.Recommender/Recommend"
HOT_USERS = 1000  # cache-hit scenarios cycle over these (all fit the L1)


def recommend_requests(kind: str) -> list[bytes]:
    """Serialized requests: hot users (hit, context with a viewed product and cart) or
    every user shuffled (miss)."""
    from recsvc.api.v1 import recommender_pb2 as rpb

    rng = random.Random(11)
    out = []
    for n in range(N_USERS if kind == "miss" else HOT_USERS):
        context = rpb.RecommendContext()
        if kind == "context":
            viewed, *cart = rng.sample(range(N_PRODUCTS), 3)
            context = rpb.RecommendContext(
                viewed_product_id=f"p{viewed:05d}", cart_product_ids=[f"p{c:05d}" for c in cart]
            )
        request = rpb.RecommendRequest(user_id=f"u{n:06d}", k=10, context=context)
        out.append(request.SerializeToString())
    if kind == "miss":
        rng.shuffle(out)
    return out
