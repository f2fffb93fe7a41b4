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
    lists = PopularLists(popular, k + 200, catalog.in_stock)  # overall: enough after exclusions
    # Tier by tier, and each next tier only for the users the ones before left short of
    # ``k``, and only the head of each popular list that can reach the list: a later tier
    # only fills the end of a list (building whole popular lists for every user made ~500
    # candidate rows a user to sort). The lists are those of sorting all tiers at once.
    cand = _ordered(pd.DataFrame({
        "uid": similar["uid"], "pcode": similar["pcode"], "score": similar["score"],
        "tier": SIMILAR, "source": similar["source"], "source_etype": similar["source_etype"],
    }).astype(TIER_DTYPES), catalog, bought)  # typed even when empty: a float uid loses bits
    b_users, b_counts = np.unique(bought["uid"].to_numpy(), return_counts=True)
    done: list[pd.DataFrame] = []
    for later in (_in_category, _overall):
        uid = cand["uid"].to_numpy()
        listed, counts = np.unique(uid, return_counts=True)
        filled = listed[counts >= k]
        full = np.isin(uid, filled)
        done.append(cand[full])
        short = np.unique(users[~np.isin(users, filled)])
        if not len(short):
            cand = cand.iloc[:0]
            break
        # A user's list can lose at most the products bought and those already listed to
        # the exclusions: k more than that from each popular list is always enough.
        room = k + _count_of(short, b_users, b_counts) + _count_of(short, listed, counts)
        extra = later(short, room, top, lists)
        cand = _ordered(pd.concat([cand[~full], extra], ignore_index=True), catalog, bought)
    done.append(cand)
    out = pd.concat(done, ignore_index=True)
    out = out.iloc[np.argsort(out["uid"].to_numpy(), kind="stable")]
    out = out.assign(rank=out.groupby("uid", sort=False).cumcount())
    out = out[out["rank"].to_numpy() < k].copy()
    # Scores never rise down the list, whatever the tier bands: clients may re-sort by score.
    out["score"] = out.groupby("uid", sort=False)["score"].cummin()
    return out[list(RECS_DTYPES)].reset_index(drop=True).astype(RECS_DTYPES)


def _count_of(keys: np.ndarray, have: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """counts[i] for each key equal to have[i]; 0 for the others."""
    found: np.ndarray = pd.Series(counts, index=have).reindex(keys, fill_value=0).to_numpy(
        np.int64)
    return found


class PopularLists:
    """The popular lists (in stock, the overall one cut at ``overall_head``), each one
    contiguous in list order, so that the first n items of any list, with those tied with
    the n-th, are a slice: no list is joined whole onto every user."""

    def __init__(self, popular: pd.DataFrame, overall_head: int, in_stock: np.ndarray) -> None:
        overall = popular[popular["cat"] == OVERALL].sort_values("rank", kind="stable")
        table = pd.concat([overall.head(overall_head), popular[popular["cat"] != OVERALL]])
        table = table[in_stock[table["pcode"].to_numpy(dtype=np.int64)]]
        table = table.sort_values(["cat", "rank"], kind="stable")
        self.cat = table["cat"].to_numpy(np.int64)
        self.pcode = table["pcode"].to_numpy()
        self.score = table["score"].to_numpy(np.float64)
        self.cats, self.starts, self.lengths = np.unique(
            self.cat, return_index=True, return_counts=True)
        # Scores never rise down a list: ties are runs; tie_end[j] ends j's run.
        cat, score = self.cat, self.score
        new = np.r_[True, (cat[1:] != cat[:-1]) | (score[1:] != score[:-1])][: len(cat)]
        self.tie_end = np.r_[np.flatnonzero(new)[1:], len(cat)][np.cumsum(new) - 1]

    def heads(self, cats: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(request, row) pairs: for request i, the rows of list cats[i]'s first n[i] items
        and of any tied with the last of them (sorting by score alone cannot tell those
        apart)."""
        if not len(self.cats):
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        at, found = codes.find_sorted(self.cats, cats)
        start = np.where(found, self.starts[at], 0)
        last = np.minimum(n, np.where(found, self.lengths[at], 0)) - 1
        take = np.where(last >= 0, self.tie_end[start + np.maximum(last, 0)] - start, 0)
        request = np.repeat(np.arange(len(cats)), take)
        offset = np.arange(len(request)) - np.repeat(np.cumsum(take) - take, take)
        return request, start[request] + offset


TIER_DTYPES = {c: t for c, t in RECS_DTYPES.items() if c != "rank"}


def _ordered(cand: pd.DataFrame, catalog: Catalog, bought: pd.DataFrame) -> pd.DataFrame:
    """Candidates in stock and not bought, best first per user (tier, then score), each
    product once per user."""
    cand = cand[catalog.in_stock[cand["pcode"].to_numpy(dtype=np.int64)]]
    cand = _without(cand, bought, on="pcode")
    cand = cand.sort_values(
        ["uid", "tier", "score", "pcode"], ascending=[True, True, False, True], kind="stable"
    )
    return cand.drop_duplicates(["uid", "pcode"], keep="first")


def _in_category(users: np.ndarray, room: np.ndarray, top: pd.DataFrame,
                 lists: PopularLists) -> pd.DataFrame:
    """The heads of the popular lists of each user's top categories (``users`` sorted,
    ``room`` items each), scored below the personal tier."""
    top = top[np.isin(top["uid"].to_numpy(), users)]
    uid = top["uid"].to_numpy()
    request, row = lists.heads(top["cat"].to_numpy(np.int64),
                               room[np.searchsorted(users, uid)])
    return pd.DataFrame({
        "uid": uid[request],
        "pcode": lists.pcode[row],
        "score": CATEGORY_CEILING * top["share"].to_numpy()[request] * lists.score[row],
        "tier": IN_CATEGORY,
        "source": lists.cat[row],
        "source_etype": -1,
    })


def _overall(users: np.ndarray, room: np.ndarray, top: pd.DataFrame,
             lists: PopularLists) -> pd.DataFrame:
    """The head of the overall popular list for each user, scored below the category tier."""
    request, row = lists.heads(np.full(len(users), OVERALL, np.int64), room)
    return pd.DataFrame({
        "uid": users[request],
        "pcode": lists.pcode[row],
        "score": OVERALL_CEILING * lists.score[row],
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
