"""Rule-based marketing segments: high value, lapsed, cart abandoners, category affinity.

Defaults (documented in each description the service shows):
- ``high_value``: buyers whose spend is in the top 20% (at or above the 80th percentile).
- ``lapsed``: bought before, nothing for more than 60 days before the as-of time. When the
  purchase history in the data spans less than 120 days the threshold shrinks to half the
  span (never below 7 days), so a short extract still separates recent from lapsed buyers.
- ``cart_abandoners``: added to cart in the last 7 days and bought nothing since.
- ``affinity:<category>``: at least 35% of the user's weighted interest in that category
  and at least 3 interactions, so one stray click does not put anyone in a segment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from profile_engine.compute import codes

HIGH_VALUE_QUANTILE = 0.8
LAPSED_DAYS = 60
MIN_LAPSED_DAYS = 7
CART_WINDOW_DAYS = 7
AFFINITY_MIN_SHARE = 0.35
AFFINITY_MIN_INTERACTIONS = 3

HIGH_VALUE, LAPSED, CART_ABANDONERS = "high_value", "lapsed", "cart_abandoners"
AFFINITY_PREFIX = "affinity:"

SEGMENT_DTYPES: dict[str, str] = {"uid": "int64", "segment": "str"}


@dataclass(frozen=True)
class SegmentRules:
    as_of_ms: int
    high_value_monetary: float  # NaN when nobody bought: the segment stays empty
    lapsed_days: int = LAPSED_DAYS
    cart_window_days: int = CART_WINDOW_DAYS
    affinity_min_share: float = AFFINITY_MIN_SHARE
    affinity_min_interactions: int = AFFINITY_MIN_INTERACTIONS


def lapsed_days_for(purchase_span_days: float | None) -> int:
    """The lapsed threshold for purchase history covering ``purchase_span_days``."""
    if (
        purchase_span_days is None
        or math.isnan(purchase_span_days)
        or purchase_span_days >= 2 * LAPSED_DAYS
    ):
        return LAPSED_DAYS
    return int(max(MIN_LAPSED_DAYS, purchase_span_days // 2))


def assign(
    summary: pd.DataFrame, affinity: pd.DataFrame, rules: SegmentRules, categories: tuple[str, ...]
) -> pd.DataFrame:
    """(uid, segment) for every membership of the users in ``summary``."""
    uid = summary["uid"].to_numpy()
    bought = summary["frequency"].to_numpy() > 0
    last_cart = summary["last_cart_ts"].to_numpy()
    parts = []
    if not math.isnan(rules.high_value_monetary):
        hv = bought & (summary["monetary"].to_numpy() >= rules.high_value_monetary)
        parts.append(pd.DataFrame({"uid": uid[hv], "segment": HIGH_VALUE}))
    lapsed = bought & (summary["recency_days"].to_numpy() > rules.lapsed_days)
    parts.append(pd.DataFrame({"uid": uid[lapsed], "segment": LAPSED}))
    window_start = rules.as_of_ms - rules.cart_window_days * codes.DAY_MS
    abandoned = (last_cart >= window_start) & (last_cart > summary["last_purchase_ts"].to_numpy())
    parts.append(pd.DataFrame({"uid": uid[abandoned], "segment": CART_ABANDONERS}))
    active = summary.loc[summary["interactions"] >= rules.affinity_min_interactions, "uid"]
    strong = affinity[
        (affinity["share"] >= rules.affinity_min_share).to_numpy()
        & affinity["uid"].isin(active).to_numpy()
    ]
    names = np.array([AFFINITY_PREFIX + c for c in categories], dtype=object)
    parts.append(
        pd.DataFrame({"uid": strong["uid"].to_numpy(), "segment": names[strong["cat"].to_numpy()]})
    )
    out = pd.concat(parts, ignore_index=True)
    return (
        out.sort_values(["uid", "segment"], kind="stable")
        .reset_index(drop=True)
        .astype(SEGMENT_DTYPES)
    )


def descriptions(rules: SegmentRules, categories: tuple[str, ...]) -> dict[str, str]:
    """What each segment means, with the thresholds this run used."""
    out = {
        HIGH_VALUE: f"Top 20% of buyers by spend (at least {rules.high_value_monetary:.2f})"
        if not math.isnan(rules.high_value_monetary)
        else "Top 20% of buyers by spend (no buyers)",
        LAPSED: f"Bought before, nothing in the last {rules.lapsed_days} days",
        CART_ABANDONERS: (
            f"Added to cart in the last {rules.cart_window_days} days without buying since"
        ),
    }
    for c in categories:
        out[AFFINITY_PREFIX + c] = (
            f"At least {rules.affinity_min_share:.0%} of interest in {c} "
            f"(and {rules.affinity_min_interactions}+ interactions)"
        )
    return out
