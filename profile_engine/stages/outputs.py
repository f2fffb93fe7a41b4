"""What a run made, counted into its report (and, when published, into the manifest)."""

from __future__ import annotations

import pandas as pd

from profile_engine.run_report import RunReport
from profile_engine.stages.inputs import Catalogue
from profile_engine.stages.personal_lists import Recommended


def record(
    report: RunReport,
    catalogue: Catalogue,
    profiles: int,
    user_items: int,
    neighbours: pd.DataFrame,
    popular: pd.DataFrame,
    recommended: Recommended,
) -> None:
    """Output counts, and the recommendation figures ahead of the quality gate's."""
    catalog = catalogue.catalog
    in_stock = int(catalog.in_stock.sum())
    rows = recommended.rows
    report.counts = {
        "users": profiles,
        "user_items": user_items,
        "products": len(catalog),
        "in_stock": in_stock,
        "neighbour_lists": int(neighbours["a"].nunique()),
        "popular_lists": int(popular["cat"].nunique()),
        "recommendations": rows,
    }
    report.metrics = {
        "recs_per_user": rows / profiles if profiles else 0.0,
        "personalised_share": recommended.personalised / rows if rows else 0.0,
        "catalog_coverage": recommended.distinct / max(1, in_stock),
        **report.metrics,
    }
