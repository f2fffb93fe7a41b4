"""Turn computed frames into the published value types (generation), partition by partition."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from generation import Neighbours, PopularList, Profile, ScoredItem, SegmentMember
from generation.payloads import MAX_PURCHASED, MAX_RECENT
from profile_engine.compute.catalog import Catalog
from profile_engine.compute.popular import OVERALL
from profile_engine.compute.recommend import reason_text

POPULAR_REASON_OVERALL = "popular now"


def _slices(uids: np.ndarray) -> dict[int, slice]:
    """Row ranges of each uid in a frame sorted by uid."""
    if len(uids) == 0:
        return {}
    starts = np.r_[0, np.flatnonzero(uids[1:] != uids[:-1]) + 1]
    ends = np.r_[starts[1:], len(uids)]
    return {int(uids[s]): slice(int(s), int(e)) for s, e in zip(starts, ends, strict=True)}


def _rfm(row: dict[str, Any]) -> dict[str, float]:
    if not row["frequency"]:
        return {}
    return {
        "recency_days": round(float(row["recency_days"]), 2),
        "frequency": float(row["frequency"]),
        "monetary": round(float(row["monetary"]), 2),
        "r": float(row["r"]),
        "f": float(row["f"]),
        "m": float(row["m"]),
    }


def profiles(
    summary: pd.DataFrame,
    segments: pd.DataFrame,
    items: pd.DataFrame,
    affinity: pd.DataFrame,
    recs: pd.DataFrame,
    catalog: Catalog,
) -> list[Profile]:
    """One Profile per summary row; the other frames hold the same users (any order)."""
    ids = catalog.ids.to_numpy(dtype=object)
    items = items.sort_values(
        ["uid", "last_ts", "pcode"], ascending=[True, False, True], kind="stable"
    )
    bought = items[items["bought"].to_numpy()]
    seen = items[~items["bought"].to_numpy()]
    affinity = affinity.sort_values(["uid", "share"], ascending=[True, False], kind="stable")
    recs = recs.sort_values(["uid", "rank"], kind="stable")
    segments = segments.sort_values(["uid", "segment"], kind="stable")
    frames = {"bought": bought, "seen": seen, "aff": affinity, "recs": recs, "seg": segments}
    where = {name: _slices(f["uid"].to_numpy()) for name, f in frames.items()}
    cols = {
        "bought": bought["pcode"].to_numpy(),
        "seen": seen["pcode"].to_numpy(),
        "aff_cat": affinity["cat"].to_numpy(),
        "aff_share": affinity["share"].to_numpy(),
        "rec_p": recs["pcode"].to_numpy(dtype=np.int64),
        "rec_s": recs["score"].to_numpy(dtype=float),
        "rec_t": recs["tier"].to_numpy(),
        "rec_src": recs["source"].to_numpy(),
        "rec_e": recs["source_etype"].to_numpy(),
        "seg": segments["segment"].to_numpy(dtype=object),
    }
    empty = slice(0, 0)
    out = []
    for row in summary.to_dict("records"):
        uid = int(row["uid"])
        b, s = where["bought"].get(uid, empty), where["seen"].get(uid, empty)
        a, r, g = (
            where["aff"].get(uid, empty),
            where["recs"].get(uid, empty),
            where["seg"].get(uid, empty),
        )
        out.append(
            Profile(
                user_id=str(row["user_id"]),
                recommendations=tuple(
                    ScoredItem(
                        ids[p], round(float(sc), 6), reason_text(int(t), int(src), int(e), catalog)
                    )
                    for p, sc, t, src, e in zip(
                        cols["rec_p"][r],
                        cols["rec_s"][r],
                        cols["rec_t"][r],
                        cols["rec_src"][r],
                        cols["rec_e"][r],
                        strict=True,
                    )
                ),
                purchased=tuple(ids[cols["bought"][b]][:MAX_PURCHASED]),
                recent=tuple(ids[cols["seen"][s]][:MAX_RECENT]),
                category_affinity={
                    catalog.categories[c]: round(float(v), 4)
                    for c, v in zip(cols["aff_cat"][a], cols["aff_share"][a], strict=True)
                },
                rfm=_rfm(row),
                segments=tuple(str(x) for x in cols["seg"][g]),
            )
        )
    return out


def segment_members(
    summary: pd.DataFrame, segments: pd.DataFrame
) -> list[tuple[str, SegmentMember]]:
    """(segment, member) for every membership; attributes as text for campaign tools."""
    joined = segments.merge(summary, on="uid", how="inner").sort_values(
        ["segment", "user_id"], kind="stable"
    )
    out = []
    for row in joined.to_dict("records"):
        bought = bool(row["frequency"])
        out.append(
            (
                str(row["segment"]),
                SegmentMember(
                    user_id=str(row["user_id"]),
                    email=str(row["email"]),
                    marketing_opt_in=bool(row["opt_in"]),
                    attributes={
                        "first_name": str(row["first_name"]),
                        "country": str(row["country"]),
                        "recency_days": f"{row['recency_days']:.0f}" if bought else "",
                        "frequency": str(int(row["frequency"])),
                        "monetary": f"{row['monetary']:.2f}",
                        "top_category": str(row["top_category"]),
                    },
                ),
            )
        )
    return out


def neighbour_lists(neighbours: pd.DataFrame, catalog: Catalog) -> Iterator[Neighbours]:
    """Neighbours of every product that has any, best first (``neighbours`` from top_neighbours)."""
    ids = catalog.ids.to_numpy(dtype=object)
    ordered = neighbours.sort_values(
        ["a", "score", "b"], ascending=[True, False, True], kind="stable"
    )
    a, b, score = ordered["a"].to_numpy(), ordered["b"].to_numpy(), ordered["score"].to_numpy()
    for code, sl in _slices(a).items():
        yield Neighbours(
            product_id=ids[code],
            category=catalog.categories[catalog.category_codes[code]],
            in_stock=bool(catalog.in_stock[code]),
            items=tuple(
                ScoredItem(ids[p], round(float(s), 6), "similar to " + str(catalog.names[code]))
                for p, s in zip(b[sl], score[sl], strict=True)
            ),
        )


def popular_lists(table: pd.DataFrame, catalog: Catalog) -> list[PopularList]:
    """The overall list (category "") first, then one per category."""
    ids = catalog.ids.to_numpy(dtype=object)
    out = []
    for cat, group in table.sort_values(["cat", "rank"]).groupby("cat", sort=True):
        name = "" if cat == OVERALL else catalog.categories[int(cat)]
        reason = POPULAR_REASON_OVERALL if cat == OVERALL else f"popular in {name}"
        out.append(
            PopularList(
                name,
                tuple(
                    ScoredItem(ids[p], round(float(s), 6), reason)
                    for p, s in zip(
                        group["pcode"].to_numpy(), group["score"].to_numpy(), strict=True
                    )
                ),
            )
        )
    return out
