"""Track's event delivery: FirehoseSink against a real moto server (Firehose writing each
PutRecordBatch to S3 as one object), through an outage and back; its retry and limit rules
over a scripted client passed in; open_sink and NullSink."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from clickstream import EventRecord
from loopback import ROOT
from loopback.waiting import wait_until
from recsvc.delivery import EventSink, NullSink, open_sink
from recsvc.delivery.firehose import MAX_BATCH_BYTES, MAX_RECORD_BYTES, FirehoseSink
from recsvc.settings import Settings
from tests.recsvc.firehose import create_stream

SINK_LOG = "recsvc.delivery.firehose"


def lines(n: int, tag: str = "e") -> list[bytes]:
    return [
        EventRecord(event_id=f"{tag}-{i:04d}", ts=1_700_000_000_000 + i, event_type="view",
                    user_id=f"u{i:04d}", product_id=f"p{i % 7}").to_json_line()
        for i in range(n)
    ]


def sink_settings(stream: str = "events", url: str | None = None, **kw: Any) -> Settings:
    return Settings(firehose_stream=stream, firehose_endpoint_url=url, **kw)


def fast(settings: Settings, client: Any = None, **kw: Any) -> FirehoseSink:
    """A sink whose back-off is milliseconds, so retries do not slow the suite."""
    return FirehoseSink(settings, client, backoff_base_s=0.01, backoff_cap_s=0.05, **kw)


# -- a real delivery stream on moto -----------------------------------------------------


def accounted(sink: FirehoseSink) -> bool:
    """Every record offered is sent, dropped (for a counted reason) or still buffered."""
    c = sink.counters
    dropped = sum(v for k, v in c.items() if k.startswith("dropped_"))
    return c["offered"] == c["sent"] + dropped + sink.depth


async def test_lines_arrive_once_in_order_flushed_by_size_then_by_aclose(
    moto_endpoint: str,
) -> None:
    stream = create_stream(moto_endpoint)
    # The timer never fires within the test: only full batches go before aclose.
    sink = fast(sink_settings(stream.name, moto_endpoint, firehose_batch_records=5,
                              firehose_flush_s=3600))
    await sink.start()
    sent = lines(12)
    sink.offer(sent)
    await wait_until(lambda: sink.counters["sent"] == 10, 30, "two full batches sent")
    assert sink.depth == 2
    assert sorted(stream.objects()) == [sent[0:5], sent[5:10]]

    await sink.aclose()  # flushes the partial batch
    assert sink.depth == 0 and sink.counters["sent"] == 12
    assert sorted(stream.objects()) == [sent[0:5], sent[5:10], sent[10:12]]
    assert sink.counters["batches"] == 3 and accounted(sink)
    assert not any(v for k, v in sink.counters.items() if k.startswith("dropped_"))


async def test_partial_batches_are_flushed_by_time(moto_endpoint: str) -> None:
    stream = create_stream(moto_endpoint)
    sink = fast(sink_settings(stream.name, moto_endpoint, firehose_flush_s=0.1))
    await sink.start()
    try:
        first, second = lines(3, "first"), lines(2, "second")
        for line in first:
            sink.offer([line])
        await wait_until(lambda: sink.counters["sent"] == 3, 30, "the first timed flush")
        sink.offer(second)
        await wait_until(lambda: sink.counters["sent"] == 5, 30, "the second timed flush")
        assert sorted(stream.objects()) == sorted([first, second])
    finally:
        await sink.aclose()
    assert accounted(sink)


class RestartableMoto:
    """moto in server mode that can be stopped and started again on the same port (its
    state lives in this process, so the stream and bucket survive the restart)."""

    def __init__(self) -> None:
        self.port = 0
        self._server: Any = None

    def start(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        self.port = self._server.get_host_and_port()[1]

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def moto() -> Iterator[RestartableMoto]:
    server = RestartableMoto()
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_outage_keeps_offer_bounded_counts_drops_and_recovers(
    moto: RestartableMoto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=SINK_LOG)
    stream = create_stream(moto.endpoint)
    sink = fast(sink_settings(stream.name, moto.endpoint, firehose_batch_records=10,
                              firehose_buffer_records=50, firehose_attempts=2,
                              firehose_flush_s=0.05))
    await sink.start()
    try:
        before = lines(5, "before")
        sink.offer(before)
        await wait_until(lambda: sink.counters["sent"] == 5, 30, "delivery before the outage")

        moto.stop()  # connection refused from now on
        during = lines(400, "during")
        for i in range(0, len(during), 40):
            assert sink.offer(during[i : i + 40]) is None  # a plain call: returns, never awaits
            assert sink.depth <= 50
            await asyncio.sleep(0)  # the sender runs between Track calls (one batch at most)
        assert sink.counters["dropped_overflow"] > 0
        await wait_until(lambda: sink.depth == 0, 60, "the outage's batches to be dropped")
        assert sink.counters["dropped_failed"] >= 20  # several batches, each dropped
        assert sink.counters["sent"] == 5 and accounted(sink)

        moto.start()  # same port, same stream
        after = lines(5, "after")
        sink.offer(after)
        await wait_until(lambda: sink.counters["sent"] == 10, 30, "delivery after the outage")
    finally:
        await sink.aclose()
    assert accounted(sink)
    # Nothing of the outage reached S3 (every call was refused), the rest exactly once.
    assert sorted(stream.objects()) == sorted([before, after])
    # One warning for the whole outage, one line when it recovered; no record contents.
    messages = [r.getMessage() for r in caplog.records if r.name == SINK_LOG]
    assert len([m for m in messages if "failing" in m]) == 1
    assert len([m for m in messages if "delivering again" in m]) == 1
    assert not [m for m in messages if any(t in m for t in ("event_id", "before-", "during-",
                                                          "after-", "u00"))]


# -- retry and limit rules over a scripted client ---------------------------------------


class ScriptedFirehose:
    """A firehose client whose PutRecordBatch answers follow a script: per call, an
    exception to raise or the indexes of the records to fail. ``gate`` holds calls
    back (Firehose hanging)."""

    def __init__(self, *script: BaseException | set[int]) -> None:
        self.script = list(script)
        self.calls: list[list[bytes]] = []
        self.entered = 0
        self.gate = asyncio.Event()
        self.gate.set()

    async def put_record_batch(self, *, DeliveryStreamName: str, Records: list[dict[str, bytes]]
                               ) -> dict[str, Any]:
        self.entered += 1
        await self.gate.wait()
        data = [r["Data"] for r in Records]
        self.calls.append(data)
        step = self.script.pop(0) if self.script else set()
        if isinstance(step, BaseException):
            raise step
        responses = [
            {"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "Slow down."}
            if i in step else {"RecordId": f"r{i}"}
            for i in range(len(data))
        ]
        failed = sum(1 for r in responses if "ErrorCode" in r)
        return {"FailedPutCount": failed, "Encrypted": False, "RequestResponses": responses}

    def delivered(self) -> list[bytes]:
        return [d for call in self.calls for d in call]


def throttled() -> ClientError:
    error = {"Code": "ServiceUnavailableException", "Message": "Slow down."}
    return ClientError({"Error": error}, "PutRecordBatch")


async def run_batch(client: ScriptedFirehose, sent: list[bytes], **settings: Any) -> FirehoseSink:
    """Offer ``sent`` as exactly one full batch and wait until the sink is idle again."""
    sink = fast(sink_settings(firehose_batch_records=len(sent), firehose_flush_s=3600,
                              **settings), client)
    await sink.start()
    sink.offer(sent)
    await wait_until(lambda: sink.depth == 0, 30, "the batch to be settled")
    await sink.aclose()
    assert accounted(sink)
    return sink


async def test_partial_failure_retries_only_the_failed_records() -> None:
    client = ScriptedFirehose({1, 3})
    sent = lines(5)
    sink = await run_batch(client, sent)
    assert client.calls == [sent, [sent[1], sent[3]]]
    c = sink.counters
    assert (c["sent"], c["record_failures"], c["retries"], c["batches"]) == (5, 2, 1, 2)
    assert c["dropped_failed"] == 0


async def test_records_failing_every_attempt_are_dropped_the_rest_sent() -> None:
    client = ScriptedFirehose({0, 2}, {0}, {0})
    sent = lines(4)
    sink = await run_batch(client, sent, firehose_attempts=3)
    assert client.calls == [sent, [sent[0], sent[2]], [sent[0]]]
    assert sink.counters["sent"] == 3 and sink.counters["dropped_failed"] == 1


async def test_whole_call_failures_are_retried_with_the_same_records() -> None:
    refused = EndpointConnectionError(endpoint_url="http://127.0.0.1:9")
    client = ScriptedFirehose(throttled(), refused, set())
    sent = lines(3)
    sink = await run_batch(client, sent)
    assert client.calls == [sent, sent, sent]
    c = sink.counters
    assert (c["sent"], c["batch_failures"], c["retries"], c["dropped_failed"]) == (3, 2, 2, 0)


@pytest.mark.parametrize(("code", "calls"), [("ServiceUnavailableException", 3),
                                             ("InvalidArgumentException", 1)])
async def test_failed_calls_drop_the_batch_after_the_attempts_or_at_once_if_invalid(
    code: str, calls: int
) -> None:
    client = ScriptedFirehose(*(ClientError({"Error": {"Code": code, "Message": "no"}},
                                            "PutRecordBatch") for _ in range(3)))
    sink = await run_batch(client, lines(3), firehose_attempts=3)
    assert len(client.calls) == calls
    assert sink.counters["dropped_failed"] == 3 and sink.counters["sent"] == 0


async def test_batches_respect_the_byte_limits_and_oversize_records_are_dropped() -> None:
    client = ScriptedFirehose()
    big = [bytes([65 + i]) * (900 * 1024) + b"\n" for i in range(10)]
    too_big = b"x" * (MAX_RECORD_BYTES + 1)
    sink = fast(sink_settings(firehose_flush_s=0.05), client)
    await sink.start()
    sink.offer([big[0], too_big, *big[1:]])
    await wait_until(lambda: sink.counters["sent"] == 10, 30, "the big records sent")
    await sink.aclose()
    assert sink.counters["dropped_oversize"] == 1 and accounted(sink)
    assert client.delivered() == big  # in order, the oversize one never sent
    assert len(client.calls) >= 3
    assert all(sum(map(len, call)) <= MAX_BATCH_BYTES for call in client.calls)


async def test_a_full_buffer_drops_the_oldest_waiting_records() -> None:
    client = ScriptedFirehose()
    client.gate.clear()  # Firehose hangs
    sink = fast(sink_settings(firehose_batch_records=5, firehose_buffer_records=20,
                              firehose_flush_s=3600), client)
    await sink.start()
    sent = lines(100)
    sink.offer(sent[:5])
    await wait_until(lambda: client.entered == 1, 30, "the first batch in flight")
    sink.offer(sent[5:])
    # 5 in flight + the 15 newest waiting: the buffer's bound includes the batch in flight
    assert sink.depth == 20 and sink.counters["dropped_overflow"] == 80
    client.gate.set()
    await sink.aclose()
    assert client.delivered() == sent[:5] + sent[-15:]
    assert accounted(sink)


async def test_aclose_is_bounded_when_firehose_hangs() -> None:
    client = ScriptedFirehose()
    client.gate.clear()  # never answers
    sink = fast(sink_settings(firehose_flush_s=0.05), client, close_timeout_s=0.2)
    await sink.start()
    sink.offer(lines(3))
    await wait_until(lambda: client.entered == 1, 30, "the batch in flight")
    await sink.aclose()
    assert sink.counters["dropped_close"] == 3 and sink.depth == 0
    sink.offer(lines(2, "late"))  # after close: counted, not raised
    assert sink.counters["dropped_closed"] == 2 and accounted(sink)
    await sink.aclose()  # twice is fine


async def test_aclose_without_start_counts_what_was_buffered() -> None:
    sink = FirehoseSink(sink_settings(), ScriptedFirehose())
    sink.offer(lines(2))
    await sink.aclose()
    assert sink.counters["dropped_close"] == 2 and accounted(sink)


async def test_open_sink_picks_by_the_stream_setting() -> None:
    null = open_sink(Settings())
    assert isinstance(null, NullSink) and isinstance(null, EventSink)
    await null.start()
    null.offer(lines(3))
    assert null.counters["offered"] == 3 and null.depth == 0
    await null.aclose()

    firehose = open_sink(sink_settings("events", "http://127.0.0.1:9"))
    assert isinstance(firehose, FirehoseSink) and isinstance(firehose, EventSink)
    await firehose.aclose()  # never started: nothing opened


# -- the deployed stream ----------------------------------------------------------------


def test_the_deployed_stream_lands_where_the_job_reads_and_only_the_sink_may_put() -> None:
    from cfnlint.decode import decode

    from profile_engine.sources.files import JSON_SUFFIXES

    ecs, problems = decode(str(ROOT / "deploy/ecs/template.yaml"))
    assert not problems and ecs is not None
    emr, problems = decode(str(ROOT / "deploy/emr/template.yaml"))
    assert not problems and emr is not None
    resources = ecs["Resources"]
    s3 = resources["EventsDeliveryStream"]["Properties"]["ExtendedS3DestinationConfiguration"]
    # Under the job's events root, one dt= partition per day, a suffix its reader lists.
    prefix = ecs["Parameters"]["EventsPrefix"]["Default"]
    assert prefix == emr["Parameters"]["EventsPrefix"]["Default"]
    assert s3["Prefix"]["Fn::Sub"] == "${EventsPrefix}/dt=!{timestamp:yyyy-MM-dd}/"
    assert not s3["ErrorOutputPrefix"]["Fn::Sub"].startswith("${EventsPrefix}")
    assert s3["CompressionFormat"] == "GZIP" and s3["FileExtension"] in JSON_SUFFIXES
    # The service puts records on this stream and calls nothing else on Firehose.
    container = resources["TaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert env["RECSVC_FIREHOSE_STREAM"] == {"Ref": "EventsDeliveryStream"}
    granted = [
        (statement["Action"], statement["Resource"])
        for policy in resources["TaskRole"]["Properties"]["Policies"] if "PolicyName" in policy
        for statement in policy["PolicyDocument"]["Statement"]
        if "firehose:" in str(statement["Action"])
    ]
    assert granted == [("firehose:PutRecordBatch", {"Fn::GetAtt": ["EventsDeliveryStream", "Arn"]})]
    source = (ROOT / "recsvc/delivery/firehose.py").read_text()
    assert set(re.findall(r"self\._client\.([a-z_]+)\(", source)) == {"put_record_batch"}
