"""Publish one generation to DynamoDB: write every item, then the manifest, then flip the pointer.

Readers follow the pointer item, so until the flip nobody sees the new generation: a run
that dies halfway leaves the last good one served and its own items expire by TTL.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

from generation import (
    FORMAT_VERSION,
    GenerationData,
    HistoryEntry,
    Manifest,
    NeighbourFacts,
    details,
    layout,
)
from profile_engine.errors import PublishError
from profile_engine.history import now_iso, record_flip
from profile_engine.served import ServedTable

log = logging.getLogger(__name__)

# BatchWriteItem accepts at most 25 put/delete requests per call (DynamoDB limit).
BATCH_WRITE_LIMIT = 25
# Unprocessed items are retried this many times with capped, jittered backoff, then we give up.
MAX_ATTEMPTS = 8
BACKOFF_BASE_S = 0.05
BACKOFF_CAP_S = 2.0


@dataclass
class PublishReport:
    generation: str
    items: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    retried_items: int = 0
    seconds: float = 0.0
    previous_generation: str | None = None


def new_generation_id(now: datetime | None = None) -> str:
    """Sortable by time, unique across concurrent runs: 20261124T193412Z-3f9a1c."""
    now = now or datetime.now(UTC)
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:6]}"


def dynamodb_client(region: str, endpoint_url: str | None = None, connections: int = 16) -> Any:
    import boto3
    from botocore.config import Config

    # Throttling is handled by our own UnprocessedItems loop and botocore's adaptive mode.
    config = Config(retries={"max_attempts": 5, "mode": "adaptive"},
                    max_pool_connections=connections)
    return boto3.client("dynamodb", region_name=region, endpoint_url=endpoint_url, config=config)


def _chunks(items: Iterable[layout.Item], size: int) -> Iterator[list[layout.Item]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def _write_chunk(
    client: Any, table: str, chunk: list[layout.Item], sleep: Callable[[float], None]
) -> tuple[int, int]:
    """One BatchWriteItem of up to 25 items, its UnprocessedItems retried with capped full
    jitter; (requests sent, items retried)."""
    pending: list[dict[str, Any]] = [{"PutRequest": {"Item": item}} for item in chunk]
    batches = retried = 0
    for attempt in range(MAX_ATTEMPTS):
        response = client.batch_write_item(RequestItems={table: pending})
        batches += 1
        pending = response.get("UnprocessedItems", {}).get(table, [])
        if not pending:
            return batches, retried
        retried += len(pending)
        # Full jitter (AWS architecture blog): spreads retries of concurrent writers.
        sleep(random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt)))
    raise PublishError(
        f"{len(pending)} items still unprocessed after {MAX_ATTEMPTS} attempts "
        f"(table {table} throttled?)"
    )


def write_items(
    client: Any,
    table: str,
    items: Iterable[layout.Item],
    report: PublishReport,
    sleep: Callable[[float], None] = time.sleep,
    in_flight: int = 1,
) -> int:
    """BatchWriteItem in chunks of 25, ``in_flight`` requests at a time (threads: boto3
    clients are thread-safe); UnprocessedItems retried with capped backoff. Throttling
    beyond that is botocore's adaptive mode: it slows the client's own send rate."""
    written = 0
    if in_flight <= 1:
        for chunk in _chunks(items, BATCH_WRITE_LIMIT):
            written += _count(len(chunk), _write_chunk(client, table, chunk, sleep), report)
        return written
    with ThreadPoolExecutor(in_flight, thread_name_prefix="publish") as pool:
        window: deque[tuple[int, Future[tuple[int, int]]]] = deque()
        for chunk in _chunks(items, BATCH_WRITE_LIMIT):
            window.append((len(chunk), pool.submit(_write_chunk, client, table, chunk, sleep)))
            if len(window) >= 2 * in_flight:  # bounded: items are produced lazily
                written += _settle(window.popleft(), report)
        while window:
            written += _settle(window.popleft(), report)
    return written


def _settle(done: tuple[int, Future[tuple[int, int]]], report: PublishReport) -> int:
    size, future = done
    return _count(size, future.result(), report)


def _count(size: int, counts: tuple[int, int], report: PublishReport) -> int:
    """Add one chunk's (requests, retried items) to ``report``; its size back."""
    report.batches += counts[0]
    report.retried_items += counts[1]
    return size


def current_generation(client: Any, table: str) -> str | None:
    pointer = ServedTable(client, table).pointer()
    return pointer.generation if pointer else None


def flip_pointer(
    client: Any,
    table: str,
    generation: str,
    published_at: str,
    expected: str | None,
    format_version: int = FORMAT_VERSION,
    data_table: str = "",
) -> None:
    """Point readers at ``generation`` (whose items ``data_table`` holds; "": ``table``
    itself); refuses if another run flipped it since we started."""
    if expected is None:
        condition: dict[str, Any] = {
            "ConditionExpression": "attribute_not_exists(#pk)",
            "ExpressionAttributeNames": {"#pk": layout.PK},
        }
    else:
        condition = {
            "ConditionExpression": "#gen = :expected",
            "ExpressionAttributeNames": {"#gen": layout.GENERATION},
            "ExpressionAttributeValues": {":expected": {"S": expected}},
        }
    try:
        client.put_item(
            TableName=table,
            Item=layout.pointer_item(generation, published_at, format_version, data_table),
            **condition,
        )
    except client.exceptions.ConditionalCheckFailedException as exc:
        raise PublishError(
            f"the served generation changed while this run published (expected {expected!r}); "
            "not flipping over a concurrent run"
        ) from exc


def _lazy(make: Callable[[], Iterable[layout.Item]]) -> Iterator[layout.Item]:
    yield from make()


def publish(client: Any, table: str, data: GenerationData, *, ttl_days: float) -> PublishReport:
    """Write the whole generation, then flip the pointer. Raises PublishError; on any
    error the pointer is untouched and the previous generation stays served."""
    started = time.perf_counter()
    gen = data.manifest.generation
    report = PublishReport(generation=gen)
    report.previous_generation = current_generation(client, table)
    expires_at = expiry(ttl_days)

    facts = NeighbourFacts(data.neighbours) if data.catalogue is None else None
    sections: list[tuple[str, Iterable[layout.Item]]] = [
        ("profiles", (layout.profile_item(gen, p, expires_at) for p in data.profiles)),
        ("neighbours", (layout.neighbours_item(gen, n, expires_at)
                        for n in (facts or data.neighbours))),
        # Lazily: without a catalogue, its facts are those the neighbours stream carried.
        ("catalogue", _lazy(lambda: layout.catalogue_items(
            gen, data.catalogue or facts.collected(), expires_at))),  # type: ignore[union-attr]
        ("popular", (layout.popular_item(gen, p, expires_at) for p in data.popular)),
        (
            "segment_members",
            (layout.segment_member_item(gen, s, m, expires_at) for s, m in data.segment_members),
        ),
    ]
    manifest, buckets = details.with_details_count(data.manifest, data.details)
    if data.details is not None:
        sections.append(("details", details.details_items(gen, data.details, buckets,
                                                          expires_at)))
    try:
        for name, items in sections:
            report.items[name] = write_items(client, table, items, report)
            log.info("published %d %s items of generation %s", report.items[name], name, gen)
    except PublishError:
        raise
    except Exception as exc:
        raise PublishError(f"publishing generation {gen} failed: {exc}") from exc
    finish(client, table, manifest, expires_at, report)
    report.seconds = time.perf_counter() - started
    return report


def expiry(ttl_days: float) -> int:
    return int((datetime.now(UTC) + timedelta(days=ttl_days)).timestamp())


def finish(
    client: Any, table: str, manifest: Manifest, expires_at: int, report: PublishReport,
    data_table: str = "",
) -> None:
    """After every data item is written: the manifest (a manifest means the data is
    complete), the pointer flip, the history entry. ``data_table``: the table holding the
    items when it is not ``table`` (published by import); the manifest and the pointer,
    both in ``table``, name it."""
    gen = manifest.generation
    manifest = replace(manifest, counts={
        **manifest.counts, layout.CATALOGUE_PARTS: report.items.get("catalogue", 0)})
    try:
        write_items(client, table, [layout.manifest_item(manifest, expires_at, data_table)],
                    report)
    except PublishError:
        raise
    except Exception as exc:
        raise PublishError(f"publishing generation {gen} failed: {exc}") from exc
    flip_pointer(client, table, gen, manifest.published_at, report.previous_generation,
                 manifest.format_version, data_table)
    try:
        record_flip(client, table, HistoryEntry(
            gen, now_iso(), "published", report.previous_generation or ""))
    except Exception:  # served already: a missing history line must not fail the run
        log.warning("generation %s is served but its history entry was not written", gen,
                    exc_info=True)
