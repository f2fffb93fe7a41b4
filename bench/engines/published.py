"""The benchmarks' one reader of the published DynamoDB table: its definition, decoded items."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from generation import layout, payloads

Scored = list[tuple[str, float]]


def table_definition(table: str) -> dict[str, Any]:
    """create_table's arguments for a table the job can publish to."""
    return layout.table_definition(table)


@dataclass(frozen=True)
class PublishedGeneration:
    """One generation's items in ``table``, read through a boto3 DynamoDB client."""

    client: Any
    table: str
    generation: str

    def _get(self, key: dict[str, Any]) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self.client.get_item(TableName=self.table, Key=key).get(
            "Item"
        )
        return item

    def popular(self, category: str = "") -> Scored | None:
        """(product, score) best first; None when no list was published."""
        item = self._get(layout.popular_key(self.generation, category))
        if item is None:
            return None
        found = payloads.decode_popular(layout.payload(item))
        return [(i.product_id, i.score) for i in found.items]

    def neighbours(self, product_id: str) -> Scored | None:
        """(neighbour, score) best first; None when the product has no list."""
        item = self._get(layout.neighbours_key(self.generation, product_id))
        if item is None:
            return None
        found = payloads.decode_neighbours(layout.payload(item))
        return [(i.product_id, i.score) for i in found.items]

    def category_affinity(self, user_id: str) -> dict[str, float] | None:
        """The user's category shares; None when the user has no profile."""
        item = self._get(layout.profile_key(self.generation, user_id))
        if item is None:
            return None
        return payloads.decode_profile(layout.payload(item)).category_affinity
