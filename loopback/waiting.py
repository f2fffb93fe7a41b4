"""Waiting for a condition with a deadline that names what was awaited (no fixed sleeps)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

__all__ = ["poll_for", "wait_until"]


def poll_for(
    predicate: Callable[[], object], timeout: float = 30.0, what: str = "condition"
) -> object:
    """Wait until predicate() is truthy and return it; TimeoutError naming ``what`` on the
    deadline. Polls often at first, then backs off to twice a second."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)


async def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """poll_for on an event loop: the loop keeps serving while we wait."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(0.02)
