"""The product catalogue as arrays indexed by product code, broadcast to every task."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

UNCATEGORIZED = "uncategorized"


@dataclass(frozen=True)
class Catalog:
    """Products in a fixed order; a product's code is its position (int32)."""

    ids: pd.Index
    names: np.ndarray  # object: display names for reasons
    category_codes: np.ndarray  # int32 index into ``categories``
    categories: tuple[str, ...]
    price: np.ndarray  # float64, NaN when unknown
    in_stock: np.ndarray  # bool

    @classmethod
    def from_frame(cls, products: pd.DataFrame) -> Catalog:
        """``products`` has product_id, name, category, price, in_stock (defaults applied)."""
        df = products.drop_duplicates("product_id", keep="last").sort_values("product_id")
        category = df["category"].astype("str").fillna("").str.strip()
        category = category.mask(category == "", UNCATEGORIZED)
        codes, uniques = pd.factorize(category, sort=True)
        names = df["name"].astype("str").fillna("").to_numpy(dtype=object)
        ids = pd.Index(df["product_id"].astype("str").to_numpy(dtype=object), dtype="str")
        names = np.where(names == "", ids.to_numpy(dtype=object), names)
        return cls(
            ids=ids,
            names=names,
            category_codes=codes.astype(np.int32),
            categories=tuple(str(c) for c in uniques),
            price=pd.to_numeric(df["price"], errors="coerce").to_numpy(dtype=np.float64),
            in_stock=df["in_stock"].fillna(True).astype(bool).to_numpy(),
        )

    def __len__(self) -> int:
        return len(self.ids)

    def codes(self, product_ids: pd.Series) -> np.ndarray:
        """Code of each product id; -1 for ids the catalogue doesn't know (or missing)."""
        found: np.ndarray = self.ids.get_indexer(product_ids.astype("str")).astype(np.int32)
        return found
