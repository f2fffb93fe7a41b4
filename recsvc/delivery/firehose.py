"""FirehoseSink: Track's events to an Amazon Data Firehose delivery stream with
PutRecordBatch, buffered in memory and sent by one background task.

Nothing here may slow a call down: ``offer`` appends to a bounded deque and returns. The
sender batches to Firehose's limits, retries what failed (only the failed records of a
partial failure) with capped, fully jittered back-off, and drops what still fails after
``firehose_attempts``. When Firehose is away for long, the buffer stays bounded by
dropping its oldest records. Every drop is counted; logs say when an outage starts and
ends, never what a record holds (events carry shopper ids)."""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter, deque
from collections.abc import Sequence
from contextlib import AsyncExitStack
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError

from recsvc.delivery.base import COUNTERS
from recsvc.settings import Settings

__all__ = ["FirehoseSink"]

log = logging.getLogger(__name__)

# PutRecordBatch limits: records per call, bytes per call, bytes per record (the data,
# before base64). A record over the last can never be sent.
MAX_BATCH_RECORDS = 500
MAX_BATCH_BYTES = 4 * 1024 * 1024
MAX_RECORD_BYTES = 1_000 * 1024
# A second bound next to firehose_buffer_records, in case events grow large: the task's
# memory must survive a long outage at full traffic.
MAX_BUFFER_BYTES = 128 * 1024 * 1024
# One call in flight at a time; short timeouts so an outage is seen (and retried) fast.
CONNECT_TIMEOUT_S = 1.0
READ_TIMEOUT_S = 3.0
BACKOFF_BASE_S = 0.2
BACKOFF_CAP_S = 2.0
# aclose() sends what is buffered for at most this long (inside the SIGTERM drain).
CLOSE_TIMEOUT_S = 5.0
# Answers that will not change on a retry: the batch is dropped at once.
NOT_RETRYABLE = frozenset({"InvalidArgumentException", "ValidationException"})


class FirehoseSink:
    """An EventSink on one delivery stream. ``client`` (an aioboto3 ``firehose`` client)
    may be passed in, and is then the caller's to close; otherwise ``start`` opens one
    from the settings and ``aclose`` closes it. Use from one event loop only."""

    name = "firehose"

    def __init__(
        self,
        settings: Settings,
        client: Any | None = None,
        *,
        backoff_base_s: float = BACKOFF_BASE_S,
        backoff_cap_s: float = BACKOFF_CAP_S,
        close_timeout_s: float = CLOSE_TIMEOUT_S,
        max_buffer_bytes: int = MAX_BUFFER_BYTES,
    ) -> None:
        self._settings = settings
        self._stream = settings.firehose_stream
        self._client: Any = client
        self._stack: AsyncExitStack | None = None
        self._attempts = settings.firehose_attempts
        self._flush_s = settings.firehose_flush_s
        self._limit = settings.firehose_buffer_records
        # Half the buffer at most: the in-flight batch counts against the bound, and a
        # new record must always find room once the waiting ones are dropped.
        self._batch = max(1, min(settings.firehose_batch_records, MAX_BATCH_RECORDS,
                                 self._limit // 2))
        self._max_bytes = max_buffer_bytes
        self._backoff_base_s = backoff_base_s
        self._backoff_cap_s = backoff_cap_s
        self._close_timeout_s = close_timeout_s
        self._waiting: deque[bytes] = deque()
        self._waiting_bytes = 0
        self._in_flight: list[bytes] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False  # aclose() began: send everything, then end
        self._closed = False  # offer() drops from now on
        # Log once per episode, not per batch: an outage can last hours.
        self._outage_since: int | None = None  # dropped_failed when the outage began
        self._overflowing = False
        self.counters: Counter[str] = Counter(dict.fromkeys(COUNTERS, 0))

    @property
    def depth(self) -> int:
        return len(self._waiting) + len(self._in_flight)

    # -- the caller's side (Track, on the event loop) -----------------------------------

    def offer(self, lines: Sequence[bytes]) -> None:
        try:
            self._offer(lines)
        except Exception:  # a bug here must not fail Track
            log.exception("event sink: offer failed")

    def _offer(self, lines: Sequence[bytes]) -> None:
        counters = self.counters
        counters["offered"] += len(lines)
        if self._closed:
            counters["dropped_closed"] += len(lines)
            return
        waiting = self._waiting
        for line in lines:
            size = len(line)
            if size > MAX_RECORD_BYTES:
                counters["dropped_oversize"] += 1
                continue
            while waiting and (
                len(waiting) + len(self._in_flight) >= self._limit
                or self._waiting_bytes + size > self._max_bytes
            ):
                self._waiting_bytes -= len(waiting.popleft())
                counters["dropped_overflow"] += 1
                self._note_overflow()
            if len(self._in_flight) >= self._limit:  # a one-record buffer, taken by the sender
                counters["dropped_overflow"] += 1
                self._note_overflow()
                continue
            waiting.append(line)
            self._waiting_bytes += size
        if len(waiting) >= self._batch:
            self._wake.set()

    def _note_overflow(self) -> None:
        if not self._overflowing:
            self._overflowing = True
            log.warning(
                "event sink: buffer full (%d records), dropping the oldest; counted in "
                "dropped_overflow until it drains", self._limit,
            )

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is not None or self._closed:
            return
        if self._client is None:
            import aioboto3

            self._stack = AsyncExitStack()
            self._client = await self._stack.enter_async_context(
                aioboto3.Session().client(
                    "firehose",
                    region_name=self._settings.aws_region,
                    endpoint_url=self._settings.firehose_endpoint_url,
                    config=Config(
                        connect_timeout=CONNECT_TIMEOUT_S,
                        read_timeout=READ_TIMEOUT_S,
                        # we retry ourselves: only failed records, with our back-off
                        retries={"mode": "standard", "total_max_attempts": 1},
                        max_pool_connections=2,
                    ),
                )
            )
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"firehose-sink:{self._stream}"
        )
        log.info("event sink: delivering to Firehose stream %s", self._stream)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            self._stopping = True
            self._wake.set()
            done, _ = await asyncio.wait({task}, timeout=self._close_timeout_s)
            if not done:
                task.cancel()
                await asyncio.wait({task})
        left = self.depth
        if left:
            # Not started, or Firehose could not take it all in time.
            self.counters["dropped_close"] += left
            log.warning("event sink: %d records not delivered before closing", left)
        self._waiting.clear()
        self._waiting_bytes = 0
        self._in_flight = []
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()

    # -- the sender (one background task) -----------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._flush_s
        while True:
            timeout = deadline - loop.time()
            if not self._stopping and len(self._waiting) < self._batch and timeout > 0:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout)
                except TimeoutError:
                    pass
            due = self._stopping or loop.time() >= deadline
            if due:
                deadline = loop.time() + self._flush_s
            # Full batches as soon as they are full; the rest when the timer is due.
            while self._waiting and (due or len(self._waiting) >= self._batch):
                try:
                    await self._deliver(self._take_batch())
                except Exception:  # a bug must not end delivery for the process's life
                    log.exception("event sink: delivering a batch failed")
                    self.counters["dropped_failed"] += len(self._in_flight)
                    self._in_flight = []
            if not self._waiting:
                self._overflowing = False
            if self._stopping and not self._waiting:
                return

    def _take_batch(self) -> list[bytes]:
        """The oldest waiting records, within the per-call record and byte limits (never
        empty: offer() keeps out records no call could carry)."""
        batch: list[bytes] = []
        size = 0
        waiting = self._waiting
        while waiting and len(batch) < self._batch and size + len(waiting[0]) <= MAX_BATCH_BYTES:
            line = waiting.popleft()
            size += len(line)
            batch.append(line)
        self._waiting_bytes -= size
        self._in_flight = batch
        return batch

    async def _deliver(self, batch: list[bytes]) -> None:
        """Send ``batch``; retry the failed part until ``firehose_attempts`` calls were
        made, then drop what is left."""
        counters = self.counters
        pending = batch
        error = ""
        for attempt in range(self._attempts):
            if attempt:
                counters["retries"] += 1
                await asyncio.sleep(self._backoff(attempt))
            try:
                answer = await self._client.put_record_batch(
                    DeliveryStreamName=self._stream, Records=[{"Data": d} for d in pending]
                )
            except ClientError as exc:
                counters["batch_failures"] += 1
                error = str(exc.response.get("Error", {}).get("Code", "ClientError"))
                if error in NOT_RETRYABLE:
                    break
                continue
            except Exception as exc:  # connection refused, timeouts, HTTP errors
                counters["batch_failures"] += 1
                error = type(exc).__name__
                continue
            counters["batches"] += 1
            failed, code = _failed(pending, answer)
            accepted = len(pending) - len(failed)
            counters["sent"] += accepted
            if accepted:
                self._recovered()
            pending = self._in_flight = failed
            if not failed:
                break
            counters["record_failures"] += len(failed)
            error = code
        if pending:
            counters["dropped_failed"] += len(pending)
            self._failing(error, len(pending))
        self._in_flight = []

    def _backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2^(attempt-1))]."""
        ceiling = min(self._backoff_cap_s, self._backoff_base_s * 2 ** (attempt - 1))
        return random.uniform(0, ceiling)

    def _failing(self, error: str, dropped: int) -> None:
        if self._outage_since is None:
            self._outage_since = self.counters["dropped_failed"] - dropped
            log.warning(
                "event sink: Firehose stream %s failing (%s): dropped %d records after up to "
                "%d attempts; further drops are counted in dropped_failed and logged when "
                "delivery recovers", self._stream, error or "unknown", dropped, self._attempts,
            )

    def _recovered(self) -> None:
        if self._outage_since is not None:
            dropped = self.counters["dropped_failed"] - self._outage_since
            self._outage_since = None
            log.info(
                "event sink: Firehose stream %s delivering again; %d records were dropped "
                "while it failed", self._stream, dropped,
            )


def _failed(pending: list[bytes], answer: Any) -> tuple[list[bytes], str]:
    """The records a PutRecordBatch answer marks failed, in order, and one error code."""
    if not answer.get("FailedPutCount"):
        return [], ""
    responses = answer.get("RequestResponses") or []
    if len(responses) != len(pending):  # cannot tell which: retry all (duplicates possible)
        return list(pending), "FailedPutCount"
    failed = [d for d, r in zip(pending, responses, strict=True) if r.get("ErrorCode")]
    codes = [str(r["ErrorCode"]) for r in responses if r.get("ErrorCode")]
    return failed, codes[0] if codes else "FailedPutCount"
