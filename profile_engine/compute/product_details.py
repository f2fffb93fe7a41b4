"""The catalogue's display details (name, price, image and page URL) as the generation
publishes them for campaign exports (generation/details.py).

Held on the driver only: the workers never need them, so they stay out of the broadcast
Catalog. A view of the products table's columns in catalogue order, building one
ProductDetails per access, so a catalogue of millions costs its columns and no object per
product.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import overload

import numpy as np
import pandas as pd

from generation.details import ProductDetails
from profile_engine.compute.catalog import Catalog


class CatalogueDetails(Sequence[ProductDetails]):
    def __init__(self, ids: np.ndarray, names: np.ndarray, prices: np.ndarray,
                 image_urls: np.ndarray, page_urls: np.ndarray) -> None:
        self._columns = (ids, names, prices, image_urls, page_urls)

    @classmethod
    def from_frame(cls, products: pd.DataFrame, catalog: Catalog) -> CatalogueDetails:
        """``products`` as Catalog.from_frame took it (the last row of a repeated id wins,
        as there), in ``catalog``'s order."""
        df = products.drop_duplicates("product_id", keep="last")
        df = df.set_index(df["product_id"].astype("str")).reindex(catalog.ids)

        def text(column: str) -> np.ndarray:
            if column not in df:
                return np.full(len(df), "", dtype=object)
            values: np.ndarray = df[column].astype(object).where(df[column].notna(), "") \
                .astype(str).str.strip().to_numpy(dtype=object)
            return values

        return cls(catalog.ids.to_numpy(dtype=object), text("name"),
                   pd.to_numeric(df["price"], errors="coerce").to_numpy(dtype=np.float64),
                   text("image_url"), text("page_url"))

    def __len__(self) -> int:
        return len(self._columns[0])

    @overload
    def __getitem__(self, index: int) -> ProductDetails: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[ProductDetails]: ...

    def __getitem__(self, index: int | slice) -> ProductDetails | Sequence[ProductDetails]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        ids, names, prices, images, pages = self._columns
        price = float(prices[index])
        return ProductDetails(str(ids[index]), str(names[index]),
                              price if math.isfinite(price) else None,
                              str(images[index]), str(pages[index]))
