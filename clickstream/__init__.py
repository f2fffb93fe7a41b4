"""The clickstream contract: the event record the service's Track path writes (through
Firehose) and the batch job reads, one JSON object per line. Imports neither half."""

from clickstream.record import (
    EVENT_TYPES,
    MODELLED_TYPES,
    PRODUCT_TYPES,
    EventRecord,
)

__all__ = ["EVENT_TYPES", "MODELLED_TYPES", "PRODUCT_TYPES", "EventRecord"]
