"""``profile-engine export-segment``'s source of the members' recommended products
(segment_export.recommended): the served generation's profiles, catalogue stock, overall
popular list and product details, read from the table with boto3 in worker threads."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from typing import Any

from generation import Profile, details, layout, payloads
from profile_engine.errors import ServedTableError
from segment_export import Storefront

__all__ = ["TableLists"]

# BatchGetItem reads at most 100 keys per call (DynamoDB limit); unprocessed keys are
# asked again this many times with capped, jittered backoff.
BATCH_GET_LIMIT = 100
MAX_ATTEMPTS = 8
BACKOFF_BASE_S, BACKOFF_CAP_S = 0.05, 2.0


class TableLists:
    """segment_export's RecommendationSource over a table; ``client`` is boto3's."""

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    async def storefront(self, generation: str) -> Storefront:
        return await asyncio.to_thread(self._storefront, generation)

    async def profiles(self, generation: str, user_ids: Sequence[str]) -> dict[str, Profile]:
        keys = {u: layout.profile_key(generation, u) for u in user_ids}
        found = await asyncio.to_thread(self._batch_get, keys)
        return {u: payloads.decode_profile(raw) for u, raw in found.items()}

    async def detail_buckets(self, generation: str, buckets: Sequence[int]) -> dict[int, bytes]:
        keys = {str(b): details.bucket_key(generation, b) for b in buckets}
        found = await asyncio.to_thread(self._batch_get, keys)
        return {int(b): raw for b, raw in found.items()}

    def _storefront(self, generation: str) -> Storefront:
        stock: dict[str, bool] = {}
        query = layout.catalogue_query(self._table, generation)
        start: dict[str, Any] | None = None
        while True:
            resp = self._client.query(**query, **({"ExclusiveStartKey": start} if start else {}))
            for item in resp["Items"]:
                part = payloads.decode_catalogue_part(layout.payload(item))
                stock.update(zip(part.product_ids, part.in_stock, strict=True))
            start = resp.get("LastEvaluatedKey")
            if not start:
                break
        popular = self._batch_get({"": layout.popular_key(generation, "")})
        fill = payloads.decode_popular(popular[""]).items if "" in popular else ()
        manifest = self._batch_get({"m": layout.manifest_key(generation)})
        counts = payloads.decode_manifest(manifest["m"]).counts if "m" in manifest else {}
        return Storefront(stock.get, fill, counts.get(details.DETAILS_BUCKETS, 0))

    def _batch_get(self, keys: dict[str, layout.Key]) -> dict[str, bytes]:
        """The ``data`` of the items at ``keys`` (id -> key) that exist, by id."""
        by_key = {layout.key_of(k): i for i, k in keys.items()}
        wanted = list(keys.values())
        out: dict[str, bytes] = {}
        for start in range(0, len(wanted), BATCH_GET_LIMIT):
            pending = wanted[start:start + BATCH_GET_LIMIT]
            for attempt in range(MAX_ATTEMPTS):
                resp = self._client.batch_get_item(RequestItems={self._table: {
                    "Keys": pending, "ProjectionExpression": "#pk, #sk, #d",
                    "ExpressionAttributeNames": {"#pk": layout.PK, "#sk": layout.SK,
                                                 "#d": layout.DATA}}})
                for item in resp["Responses"].get(self._table, []):
                    out[by_key[layout.key_of(item)]] = layout.payload(item)
                pending = resp.get("UnprocessedKeys", {}).get(self._table, {}).get("Keys", [])
                if not pending:
                    break
                time.sleep(random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt)))
            else:
                raise ServedTableError(
                    f"{len(pending)} keys still unprocessed after {MAX_ATTEMPTS} attempts "
                    f"(table {self._table} throttled?)")
        return out
