"""Delivery of accepted Track events to the nightly job's input: the EventSink protocol,
FirehoseSink (Amazon Data Firehose to S3) and NullSink, and ``open_sink``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from recsvc.delivery.base import COUNTERS, EventSink, NullSink

if TYPE_CHECKING:  # settings are only a type here; botocore loads only with a stream
    from recsvc.settings import Settings

__all__ = ["COUNTERS", "EventSink", "NullSink", "open_sink"]


def open_sink(settings: Settings) -> EventSink:
    """FirehoseSink when ``settings.firehose_stream`` names a stream, else NullSink. Not
    started: the owner calls ``await sink.start()`` on the running loop and
    ``await sink.aclose()`` when stopping."""
    if not settings.firehose_stream:
        return NullSink()
    from recsvc.delivery.firehose import FirehoseSink

    return FirehoseSink(settings)
