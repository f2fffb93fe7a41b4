"""Synthetic shop data for the demo and the tests: simulate (shop.py), then write (write.py)."""

from profile_engine.synthetic.shop import DEFAULT_START, Shop, generate
from profile_engine.synthetic.write import event_lines, write_events, write_frames, write_tables

__all__ = [
    "DEFAULT_START",
    "Shop",
    "event_lines",
    "generate",
    "write_events",
    "write_frames",
    "write_tables",
]
