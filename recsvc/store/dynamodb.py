"""DynamoProfileStore: the production ProfileStore, on an aioboto3 low-level DynamoDB client."""

from __future__ import annotations

import asyncio
import random
from collections import Counter, OrderedDict
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from typing import Any, TypeVar

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from generation import Manifest, Pointer, SegmentMember, details, layout, payloads
from recsvc.errors import StoreUnavailable
from recsvc.settings import Settings
from recsvc.store.coalesce import Coalescer

__all__ = ["DynamoProfileStore"]

T = TypeVar("T")

# BatchGetItem accepts at most 100 keys per call (and 16 MB per response; the rest
# comes back as UnprocessedKeys, as does anything throttled).
BATCH_GET_LIMIT = 100
# UnprocessedKeys are retried this many times with capped full-jitter backoff; then the
# batch counts as failed (StoreUnavailable) rather than silently "missing".
MAX_ATTEMPTS = 5
BACKOFF_BASE_S = 0.02
BACKOFF_CAP_S = 0.5
# Concurrent HTTP connections: a request fans out to a few chunked calls at once.
MAX_POOL_CONNECTIONS = 50
# Generations whose table is remembered (the served one, the one before it while a flip
# is followed, a few looked up by hand).
TABLES_KEPT = 16

# A projection reads only what the caller needs: facts are a few bytes of an item that
# holds a whole neighbour list. ("data" is a DynamoDB reserved word: always aliased.)
_PROJECTIONS = {
    attribute: ("#pk, #sk, #a", {"#pk": layout.PK, "#sk": layout.SK, "#a": attribute})
    for attribute in (layout.DATA, layout.FACTS)
}


class DynamoProfileStore:
    """Reads generations laid out as in :mod:`generation.layout`: the pointer and the
    manifests in ``table``, each generation's items in the table they name (``table``
    itself unless the generation was published by import). Use ``await open(...)`` (or
    ``async with``); ``aclose`` releases the HTTP connections."""

    def __init__(self, client: Any, table: str, stack: AsyncExitStack | None = None) -> None:
        self._client = client
        self._table = table
        # generation -> the table of its items, learnt from the pointer and the manifests;
        # a generation not in it is read from ``table``.
        self._tables: OrderedDict[str, str] = OrderedDict()
        self._lookups: dict[str, asyncio.Future[str]] = {}
        self._stack = stack
        self._coalescer = Coalescer(self._get_chunk, BATCH_GET_LIMIT)
        # unprocessed_keys: keys DynamoDB handed back (throttling, 16 MB cap) and we retried;
        # requests, keys_asked, keys_sent: BatchGetItem requests and the keys they carried.
        self.counters: Counter[str] = self._coalescer.counters

    @classmethod
    async def open(cls, settings: Settings) -> DynamoProfileStore:
        import aioboto3

        config = Config(
            connect_timeout=settings.store_connect_timeout_s,
            read_timeout=settings.store_timeout_s,
            retries={"mode": "standard", "total_max_attempts": settings.store_attempts},
            max_pool_connections=MAX_POOL_CONNECTIONS,
        )
        stack = AsyncExitStack()
        client = await stack.enter_async_context(
            aioboto3.Session().client(
                "dynamodb",
                region_name=settings.aws_region,
                endpoint_url=settings.dynamodb_endpoint_url,
                config=config,
            )
        )
        return cls(client, settings.table, stack)

    async def __aenter__(self) -> DynamoProfileStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for lookup in list(self._lookups.values()):
            lookup.cancel()
        await self._coalescer.aclose()
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()

    async def _call(self, op: Callable[..., Awaitable[T]], **kwargs: Any) -> T:
        return await call_dynamodb(op, **kwargs)

    # -- single items -------------------------------------------------------------------

    async def current_generation(self) -> Pointer | None:
        # Consistent read: the pointer flip must be seen by the next refresh.
        resp = await self._call(
            self._client.get_item,
            TableName=self._table,
            Key=layout.pointer_key(),
            ConsistentRead=True,
        )
        item = resp.get("Item")
        if not item:
            return None
        pointer = layout.decode_pointer(item)
        self._remember(pointer.generation, pointer.table)
        return pointer

    async def get_manifest(self, generation: str) -> Manifest | None:
        resp = await self._call(
            self._client.get_item, TableName=self._table, Key=layout.manifest_key(generation)
        )
        item = resp.get("Item")
        if not item:
            return None
        self._remember(generation, layout.manifest_table(item))
        return payloads.decode_manifest(layout.payload(item))

    def _remember(self, generation: str, table: str) -> None:
        self._tables[generation] = table or self._table
        self._tables.move_to_end(generation)
        while len(self._tables) > TABLES_KEPT:
            self._tables.popitem(last=False)

    async def _table_of(self, generation: str) -> str:
        """The table of ``generation``'s items: known from the pointer on the serving path;
        for another generation (``recsvc show --generation``) its manifest says, read once
        for every asker (they then ask for their items in the same loop turn, as before)."""
        table = self._tables.get(generation)
        if table is not None:
            return table
        lookup = self._lookups.get(generation)
        if lookup is None:
            lookup = self._lookups[generation] = asyncio.ensure_future(self._look_up(generation))
            lookup.add_done_callback(lambda done: self._looked_up(generation, done))
        # shield: an asker that stops waiting leaves the lookup to the others.
        return await asyncio.shield(lookup)

    async def _look_up(self, generation: str) -> str:
        if await self.get_manifest(generation) is None:
            self._remember(generation, "")  # expired or unknown: nothing to read anyway
        return self._tables.get(generation, self._table)

    def _looked_up(self, generation: str, done: asyncio.Future[str]) -> None:
        self._lookups.pop(generation, None)
        if not done.cancelled():
            done.exception()  # retrieved: its askers may all have stopped waiting

    # -- batches ------------------------------------------------------------------------

    async def get_profiles(self, generation: str, user_ids: Sequence[str]) -> dict[str, bytes]:
        keys = {u: layout.profile_key(generation, u) for u in user_ids}
        return await self._batch_get(generation, keys, layout.DATA)

    async def get_neighbours(self, generation: str, product_ids: Sequence[str]) -> dict[str, bytes]:
        keys = {p: layout.neighbours_key(generation, p) for p in product_ids}
        return await self._batch_get(generation, keys, layout.DATA)

    async def get_facts(self, generation: str, product_ids: Sequence[str]) -> dict[str, bytes]:
        keys = {p: layout.neighbours_key(generation, p) for p in product_ids}
        return await self._batch_get(generation, keys, layout.FACTS)

    async def get_popular(self, generation: str, categories: Sequence[str]) -> dict[str, bytes]:
        keys = {c: layout.popular_key(generation, c) for c in categories}
        return await self._batch_get(generation, keys, layout.DATA)

    async def get_details(self, generation: str, buckets: Sequence[int]) -> dict[int, bytes]:
        keys = {str(b): details.bucket_key(generation, b) for b in buckets}
        got = await self._batch_get(generation, keys, layout.DATA)
        return {int(b): raw for b, raw in got.items()}

    async def _batch_get(self, generation: str, keys: dict[str, layout.Key], attribute: str,
                         ) -> dict[str, bytes]:
        """The ``attribute`` payloads of the items at ``keys`` (id -> key), by id in the
        request's order; keys other calls ask for in the same loop turn share the
        BatchGetItem (recsvc/store/coalesce.py)."""
        if not keys:
            return {}
        items = await self._coalescer.get(keys, (await self._table_of(generation), attribute))
        return {id_: layout.payload(item, attribute) for id_, item in items.items()
                if item is not None}

    async def _get_chunk(self, keys: list[layout.Key], group: tuple[str, str],
                         ) -> list[layout.Item]:
        table, attribute = group
        items: list[layout.Item] = []
        pending = keys
        projection, names = _PROJECTIONS[attribute]
        for attempt in range(MAX_ATTEMPTS):
            resp = await self._call(
                self._client.batch_get_item,
                RequestItems={
                    table: {
                        "Keys": pending,
                        "ProjectionExpression": projection,
                        "ExpressionAttributeNames": names,
                    }
                },
            )
            items.extend(resp.get("Responses", {}).get(table, []))
            pending = resp.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
            if not pending:
                return items
            self.counters["unprocessed_keys"] += len(pending)
            if attempt + 1 < MAX_ATTEMPTS:
                # Full jitter: concurrent requests throttled together spread their retries.
                backoff = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt)
                await asyncio.sleep(random.uniform(0, backoff))
        raise StoreUnavailable(
            f"{len(pending)} keys still unprocessed after {MAX_ATTEMPTS} BatchGetItem attempts"
        )

    # -- segment pages ------------------------------------------------------------------

    async def get_catalogue(self, generation: str) -> list[bytes]:
        query = layout.catalogue_query(await self._table_of(generation), generation)
        parts: list[bytes] = []
        start_key: dict[str, Any] | None = None
        while True:
            resp = await self._call(
                self._client.query, **query,
                **({"ExclusiveStartKey": start_key} if start_key else {}),
            )
            parts.extend(layout.payload(item) for item in resp.get("Items", []))
            start_key = resp.get("LastEvaluatedKey")
            if not start_key:
                return parts

    async def iter_segment_members(
        self,
        generation: str,
        segment: str,
        *,
        page_size: int,
        after_user_id: str | None = None,
    ) -> AsyncGenerator[list[SegmentMember], None]:
        if page_size < 1:
            raise ValueError("page_size must be >= 1")
        query = layout.segment_page_query(
            await self._table_of(generation), generation, segment, page_size,
            after_user_id or "",
        )
        start_key: dict[str, Any] | None = None
        while True:
            resp = await self._call(
                self._client.query,
                **query,
                **({"ExclusiveStartKey": start_key} if start_key else {}),
            )
            page = [payloads.decode_segment_member(layout.payload(item))
                    for item in resp.get("Items", [])]
            if page:
                yield page
            start_key = resp.get("LastEvaluatedKey")
            if not start_key:
                return


async def call_dynamodb(op: Callable[..., Awaitable[T]], **kwargs: Any) -> T:
    """``await op(**kwargs)`` (an aiobotocore DynamoDB call), its failures as
    StoreUnavailable naming the error code, or 'unreachable' when no answer came."""
    try:
        return await op(**kwargs)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "ClientError")
        raise StoreUnavailable(f"DynamoDB {code}") from exc
    except (BotoCoreError, OSError) as exc:
        raise StoreUnavailable(f"DynamoDB unreachable: {type(exc).__name__}") from exc
