"""A warm shared cache for the shop rows: what a fleet that has served the shop for a while
holds in Redis, written before a row starts, so the rows measure serving, not moto.

Every user the row's requests (measured and warm-up) name gets their profile as the
store holds it, or the negative entry recsvc writes for an id the generation lacks; every
product gets its neighbours. Keys and bytes are recsvc's own (recsvc.cache.keys, the
generation's payload codecs), under the row's cache prefix. Cold rows: --cold-cache.
"""

from __future__ import annotations

from functools import cache

from serving.shop import Catalogue, ShopSpec, neighbours, profile

TTL_S = 3600


@cache
def _catalogue(spec: ShopSpec) -> Catalogue:
    return Catalogue(spec)


@cache
def _profile_bytes(spec: ShopSpec, n: int) -> bytes:
    from generation import payloads

    return payloads.encode_profile(profile(_catalogue(spec), n))


@cache
def _neighbour_bytes(spec: ShopSpec) -> dict[str, bytes]:
    from generation import payloads

    cat = _catalogue(spec)
    return {p: payloads.encode_neighbours(neighbours(cat, p)) for p in sorted(cat.by_rank)}


def users_named(pools: list[list[bytes]]) -> set[str]:
    from recsvc.api.v1 import recommender_pb2 as rpb

    return {rpb.RecommendRequest.FromString(raw).user_id for pool in pools for raw in pool}


def prefill(redis_url: str, prefix: str, generation: str, spec: ShopSpec,
            pools: list[list[bytes]]) -> dict[str, int]:
    """Write the warm cache of a row; how many entries of each kind."""
    import redis

    from recsvc.cache import keys
    from recsvc.cache.aside import NEGATIVE

    known = {spec.user_id(n): n for n in range(spec.users)}
    users = users_named(pools)
    client = redis.Redis.from_url(redis_url)
    counts = {"profiles": 0, "negative": 0, "neighbours": 0}
    try:
        pipe = client.pipeline(transaction=False)
        for n, user in enumerate(sorted(users)):
            key = keys.build(prefix, generation, keys.PROFILE, user)
            if user in known:
                pipe.set(key, _profile_bytes(spec, known[user]), ex=TTL_S)
                counts["profiles"] += 1
            else:
                pipe.set(key, NEGATIVE, ex=TTL_S)
                counts["negative"] += 1
            if n % 2000 == 1999:
                pipe.execute()
        for n, (p, raw) in enumerate(_neighbour_bytes(spec).items()):
            pipe.set(keys.build(prefix, generation, keys.NEIGHBOURS, p), raw, ex=TTL_S)
            counts["neighbours"] += 1
            if n % 2000 == 1999:
                pipe.execute()
        pipe.execute()
    finally:
        client.close()
    return counts
