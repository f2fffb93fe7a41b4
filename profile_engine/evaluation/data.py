"""The evaluation's input: interactions read from the engine's own inputs with Dask.

Same sources and rules as `profile-engine run` (event logs + replica order lines, orders
win over purchase events, cancelled orders dropped), then the cleaning of EVALUATION.md
step 1: non-positive quantities or prices and products missing from the catalogue go.
Only four numeric columns come back to the client (about 20 bytes a row).
"""

from __future__ import annotations

from dataclasses import dataclass

import dask.dataframe as dd
import numpy as np
import pandas as pd
from distributed import Client

from profile_engine import partitions
from profile_engine.compute import codes, profiles
from profile_engine.compute.catalog import Catalog
from profile_engine.errors import InputError
from profile_engine.settings import EngineSettings
from profile_engine.sources import events as event_source
from profile_engine.sources import replica

COLUMNS: dict[str, str] = {"uid": "int64", "pcode": "int32", "ts": "int64", "etype": "int8"}


@dataclass(frozen=True)
class Loaded:
    interactions: pd.DataFrame  # COLUMNS
    catalog: Catalog


def clean(df: pd.DataFrame) -> pd.DataFrame:
    """EVALUATION.md step 1 on coded rows (one user-partition, purchases already resolved)."""
    purchase = df["etype"].to_numpy() == codes.PURCHASE
    bad = purchase & ((df["qty"].to_numpy() <= 0) | (df["price"].to_numpy() <= 0))
    modelled = np.isin(df["etype"].to_numpy(), codes.MODELLED)
    keep = ~bad & (df["pcode"].to_numpy() >= 0) & modelled
    return df.loc[keep, list(COLUMNS)].astype(COLUMNS)


def load(settings: EngineSettings, client: Client) -> Loaded:
    url, rows = settings.replica_url, settings.partition_rows
    products = replica.read_table(url, "products", replica.PRODUCTS, rows)
    if products.frame is None:
        raise InputError("the replica has no usable products table")
    catalog = Catalog.from_frame(products.frame.compute())
    catalog_ref = client.scatter(catalog, broadcast=True, hash=False)
    sources = []
    try:
        ev = event_source.read_events(
            settings.events,
            catalog_ref,
            s3_endpoint_url=settings.s3_endpoint_url,
            error_prefixes=settings.error_prefixes,
        )
        sources.append(ev.frame)
    except FileNotFoundError:
        pass  # order lines alone are a valid input
    lines = replica.read_order_lines(url, rows)
    if lines.frame is not None:
        sources.append(
            lines.frame.map_partitions(
                partitions.orders_of, catalog_ref, meta=codes.empty_frame(codes.INTERACTION_DTYPES)
            )
        )
    if not sources:
        raise InputError("no events and no orders: nothing to evaluate")
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    rows_in = dd.concat(sources)
    n = max(workers, min(rows_in.npartitions, 4 * workers))
    frame = (
        rows_in.shuffle(on="uid", npartitions=n)
        .map_partitions(profiles.resolve_purchases)
        .map_partitions(clean, meta=codes.empty_frame(COLUMNS))
        .compute()
    )
    frame = frame.sort_values(["ts", "uid", "pcode"], kind="stable").reset_index(drop=True)
    return Loaded(frame.astype(COLUMNS), catalog)


def as_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Coerce any (uid, pcode, ts, etype) frame to COLUMNS (tests, importers)."""
    return pd.DataFrame({c: np.asarray(df[c]) for c in COLUMNS}).astype(COLUMNS)
