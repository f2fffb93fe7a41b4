"""Shop-like Track traffic: many signed-in users and anonymous sessions, Zipf-skewed, over
the bench generation's products; views mostly, some cart adds and purchases.

The hottest signed-in users are the ones the Recommend load asks for (u000000...), as on
a real shop, where the shoppers who browse are the ones being recommended to. Users
u001500..u001999 are kept out of it: the event-to-visible probes use them.
"""

from __future__ import annotations

import numpy as np
from serving.generation import N_PRODUCTS

# Signed-in users reserved for the probes (they have batch profiles, no Track load).
PROBE_USERS = range(1500, 2000)
KNOWN_USERS = 20_000  # u000000.. ; past u001999 the batch job has never seen them
ANONYMOUS_SESSIONS = 50_000
KNOWN_SHARE = 0.5  # of events
USER_SKEW = 1.1  # Zipf exponents
PRODUCT_SKEW = 1.0
TYPES = (("view", 0.85), ("add_to_cart", 0.10), ("purchase", 0.05))
PROBE_EXCLUDED = "p00042"  # named in every batch reason of the bench generation


def _zipf_cdf(n: int, skew: float) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** skew
    cdf = np.cumsum(weights)
    return cdf / cdf[-1]


def known_user(rank: int) -> str:
    """The signed-in user at Zipf ``rank`` (0 hottest), skipping the probes' users."""
    n = rank if rank < PROBE_USERS.start else rank + len(PROBE_USERS)
    return f"u{n:06d}"


class Shoppers:
    """Draws events in blocks (numpy) and serializes TrackRequests of ``batch`` events.
    Anonymous sessions are named after ``run`` (shared by every process of the run);
    event ids after ``tag`` (unique per process and phase)."""

    def __init__(self, seed: int, run: str, tag: str, batch: int = 10) -> None:
        from recsvc.api.v1 import recommender_pb2 as rpb

        self._rpb = rpb
        self._rng = np.random.default_rng(seed)
        self._run = run
        self._tag = tag
        self._batch = batch
        self._users = _zipf_cdf(KNOWN_USERS, USER_SKEW)
        self._sessions = _zipf_cdf(ANONYMOUS_SESSIONS, USER_SKEW)
        self._products = _zipf_cdf(N_PRODUCTS, PRODUCT_SKEW)
        # Product popularity is not the catalogue order.
        self._product_ids = [f"p{n:05d}" for n in self._rng.permutation(N_PRODUCTS)]
        self._type_cdf = np.cumsum([w for _, w in TYPES])
        self._types = [getattr(rpb, t.upper()) for t, _ in TYPES]
        self._block: list[tuple[bool, int, int, int]] = []
        self.sent = 0
        self.by_type: dict[str, int] = {t: 0 for t, _ in TYPES}
        self.shoppers: set[str] = set()

    def _refill(self, n: int = 20_000) -> None:
        rng = self._rng
        known = rng.random(n) < KNOWN_SHARE
        users = np.searchsorted(self._users, rng.random(n))
        sessions = np.searchsorted(self._sessions, rng.random(n))
        products = np.searchsorted(self._products, rng.random(n))
        types = np.minimum(np.searchsorted(self._type_cdf, rng.random(n)), len(TYPES) - 1)
        who = np.where(known, users, sessions)
        self._block = list(zip(known.tolist(), who.tolist(), products.tolist(),
                               types.tolist(), strict=True))
        self._block.reverse()

    def request(self) -> bytes:
        """The next TrackRequest of ``batch`` events, serialized."""
        rpb = self._rpb
        events = []
        for _ in range(self._batch):
            if not self._block:
                self._refill()
            known, who, product, kind = self._block.pop()
            self.sent += 1
            self.by_type[TYPES[kind][0]] += 1
            shopper = ({"user_id": known_user(who)} if known
                       else {"session_id": f"{self._run}-s{who}"})
            self.shoppers.add(shopper.get("user_id") or shopper["session_id"])
            events.append(rpb.Event(
                event_id=f"{self._tag}-{self.sent}", event_type=self._types[kind],
                product_id=self._product_ids[product],
                quantity=1 if kind else 0, **shopper,
            ))
        return bytes(rpb.TrackRequest(events=events).SerializeToString())
