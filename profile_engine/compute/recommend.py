"""Per-user recommendations: the ranker's list (or neighbours), then popular fill-up.

Order of a list: the personal tier, which is the ranker's output when the job has fitted one
(``compute.ranker``: what `profile-engine run` serves) or else items similar to what the user
touched recently (recency- and type-weighted interest times the neighbour similarity); then
popular items of the user's top categories, then popular overall. Never: products the user
bought, products out of stock. Every item carries a short reason a person can read.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from profile_engine.compute import codes
from profile_engine.compute.catalog import Catalog
from profile_engine.compute.popular import OVERALL
from profile_engine.compute.profiles import top_categories
from profile_engine.compute.similar import SIMILAR_FLOOR, similar_items

TOP_CATEGORIES = 3
VERBS = {
    codes.VIEW: "viewed {}",
    codes.ADD_TO_CART: "added {} to your cart",
    codes.PURCHASE: "bought {}",
}
# Score bands keep the three tiers apart: similar items in (0.5, 1] (SIMILAR_FLOOR),
# category fill below.
CATEGORY_CEILING = 0.45
OVERALL_CEILING = 0.1

SIMILAR, IN_CATEGORY, OVERALL_POPULAR = 0, 1, 2
# Models the job may serve instead of the ranker that have no personal tier.
FROM_POPULAR = frozenset({"category_popular", "most_popular"})
# source: the history product (similar), the category code (in category) or -1.
RECS_DTYPES: dict[str, str] = {
    "uid": "int64",
    "rank": "int32",
    "pcode": "int32",
    "score": "float64",
    "tier": "int8",
    "source": "int32",
    "source_etype": "int8",
}


def _without(cand: pd.DataFrame, banned: pd.DataFrame, on: str) -> pd.DataFrame:
    """Rows of ``cand`` whose (uid, ``on``) is not in ``banned`` (uid, pcode)."""
    if cand.empty or banned.empty:
        return cand
    merged = cand.merge(
        banned[["uid", "pcode"]].rename(columns={"pcode": on}),
        on=["uid", on],
        how="left",
        indicator=True,
    )
    return merged[(merged["_merge"] == "left_only").to_numpy()].drop(columns="_merge")


def _banded(ranked: pd.DataFrame, k: int) -> pd.DataFrame:
    """The ranker's lists with scores mapped into the personal tier's band (0.5, 1] by rank:
    ranker scores are only comparable within one user's list."""
    rank = ranked.groupby("uid", sort=False).cumcount().to_numpy()
    keep = rank < k
    out = ranked[keep].copy()
    out["score"] = 1.0 - (1.0 - SIMILAR_FLOOR) * rank[keep] / max(k, 1)
    return out


def recommend(
    users: np.ndarray,
    items: pd.DataFrame,
    affinity: pd.DataFrame,
    neighbours: pd.DataFrame,
    popular: pd.DataFrame,
    catalog: Catalog,
    k: int,
    history: int,
    ranked: pd.DataFrame | None = None,
    served: str = "ranker",
) -> pd.DataFrame:
    """Up to ``k`` recommendations for each of ``users`` (RECS_DTYPES; ``reason_text``
    renders the reason of a row). ``ranked``: the ranker's lists (``ranker.RANKED_DTYPES``,
    best first per user), used as the personal tier instead of the neighbours. ``served``
    (the job's model choice): "category_popular" drops the personal tier, "most_popular"
    the category tier too."""
    if served in FROM_POPULAR:
        similar = similar_items(items.iloc[:0], neighbours.iloc[:0], history, k)
    elif ranked is None:
        similar = similar_items(items, neighbours, history, k)
    else:
        similar = _banded(ranked, k)
    bought = items[items["bought"].to_numpy()]
    top = top_categories(affinity if served != "most_popular" else affinity.iloc[:0],
                         TOP_CATEGORIES)
    overall = popular[popular["cat"] == OVERALL].head(k + 200)  # enough left after exclusions
    # Tier by tier, and each next tier only for the users the ones before left short of
    # ``k``: a later tier can only fill the end of a list, and with a ranker almost every
    # list is full from its first tier (building the popular tiers for every user made
    # ~200 candidate rows a user to sort). The lists are those of sorting all tiers at once.
    cand = _ordered(pd.DataFrame({
        "uid": similar["uid"], "pcode": similar["pcode"], "score": similar["score"],
        "tier": SIMILAR, "source": similar["source"], "source_etype": similar["source_etype"],
    }), catalog, bought)
    done: list[pd.DataFrame] = []
    for later in (_in_category, _overall):
        uid = cand["uid"].to_numpy()
        listed, counts = np.unique(uid, return_counts=True)
        full = np.isin(uid, listed[counts >= k])
        done.append(cand[full])
        short = users[~np.isin(users, listed[counts >= k])]
        if not len(short):
            cand = cand.iloc[:0]
            break
        extra = later(short, top, popular, overall)
        cand = _ordered(pd.concat([cand[~full], extra], ignore_index=True), catalog, bought)
    done.append(cand)
    out = pd.concat(done, ignore_index=True)
    out = out.iloc[np.argsort(out["uid"].to_numpy(), kind="stable")]
    out = out.assign(rank=out.groupby("uid", sort=False).cumcount())
    out = out[out["rank"].to_numpy() < k].copy()
    # Scores never rise down the list, whatever the tier bands: clients may re-sort by score.
    out["score"] = out.groupby("uid", sort=False)["score"].cummin()
    return out[list(RECS_DTYPES)].reset_index(drop=True).astype(RECS_DTYPES)


def _ordered(cand: pd.DataFrame, catalog: Catalog, bought: pd.DataFrame) -> pd.DataFrame:
    """Candidates in stock and not bought, best first per user (tier, then score), each
    product once per user."""
    cand = cand[catalog.in_stock[cand["pcode"].to_numpy(dtype=np.int64)]]
    cand = _without(cand, bought, on="pcode")
    cand = cand.sort_values(
        ["uid", "tier", "score", "pcode"], ascending=[True, True, False, True], kind="stable"
    )
    return cand.drop_duplicates(["uid", "pcode"], keep="first")


def _in_category(users: np.ndarray, top: pd.DataFrame, popular: pd.DataFrame,
                 overall: pd.DataFrame) -> pd.DataFrame:
    """The popular lists of each user's top categories, scored below the personal tier."""
    top = top[np.isin(top["uid"].to_numpy(), users)]
    in_cat = top.merge(popular[popular["cat"] != OVERALL], on="cat", suffixes=("", "_pop"))
    return pd.DataFrame({
        "uid": in_cat["uid"].to_numpy(),
        "pcode": in_cat["pcode"].to_numpy(),
        "score": CATEGORY_CEILING * (in_cat["share"] * in_cat["score"]).to_numpy(),
        "tier": IN_CATEGORY,
        "source": in_cat["cat"].to_numpy(),
        "source_etype": -1,
    })


def _overall(users: np.ndarray, top: pd.DataFrame, popular: pd.DataFrame,
             overall: pd.DataFrame) -> pd.DataFrame:
    """The overall popular list for each user, scored below the category tier."""
    return pd.DataFrame({
        "uid": np.repeat(users, len(overall)),
        "pcode": np.tile(overall["pcode"].to_numpy(), len(users)),
        "score": np.tile(OVERALL_CEILING * overall["score"].to_numpy(), len(users)),
        "tier": OVERALL_POPULAR,
        "source": -1,
        "source_etype": -1,
    })


def reason_text(tier: int, source: int, source_etype: int, catalog: Catalog) -> str:
    """ "because you viewed <product>", "popular in <category>" or "popular now"."""
    if tier == SIMILAR and source < 0:
        return "popular now"  # the ranker's popularity prior outweighed the user's products
    if tier == SIMILAR:
        verb = VERBS.get(source_etype, VERBS[codes.VIEW])
        return "because you " + verb.format(catalog.names[source])
    if tier == IN_CATEGORY:
        return "popular in " + catalog.categories[source]
    return "popular now"
