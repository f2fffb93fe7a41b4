"""Where a process's large temporary arrays come from while a CPU-bound step runs.

Dask starts its workers with ``MALLOC_TRIM_THRESHOLD_=65536`` so that freed memory goes
back to the OS at once; glibc then serves every allocation over 128 KiB with a fresh mmap,
which the kernel page-faults and zeroes on first touch and unmaps on free. A tuning trial
allocates and frees blocks of megabytes hundreds of times (score blocks, Gram row bands,
masks): that way its trials took 1.3x as long (the 36 trials of bench/engine.py: 40.6 s on
two workers, 31.4 s with the blocks on the heap). Starting the workers without the trim
threshold keeps up to 64 MiB free per worker through the whole job and raised the peak RSS
at 4x events by a quarter, so only the step itself gets the heap: ``blocks_on_heap``.
The settings are process-wide: a worker of several threads would share them while a block
runs (the job's workers run one thread each).
"""

from __future__ import annotations

import ctypes
import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# mallopt parameters (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# Either of these in the environment pins glibc's thresholds (Dask's nanny sets the first).
PINNED_BY = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")
# glibc's defaults, restored for the one of them the environment does not set.
DEFAULT_MMAP = 128 * 1024
DEFAULT_TRIM = 128 * 1024
MIB = 2**20


@functools.cache  # looked up once per process, not on every block
def libc() -> Any:
    """glibc, or None (another C library: musl, macOS; nothing is changed there)."""
    try:
        lib = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return lib if hasattr(lib, "mallopt") and hasattr(lib, "malloc_trim") else None


# The (mmap, trim) thresholds keep() set for the whole process (worker_memory: workers
# keeping freed memory between tasks), which a block returns to; None: the environment's.
_kept: tuple[int, int] | None = None


def keep(mmap_below: int, keep_free: int) -> bool:
    """This process keeps up to ``keep_free`` bytes of freed heap, and allocations under
    ``mmap_below`` come from the heap, from now on (blocks end with these settings); False
    where that cannot be set (not glibc)."""
    global _kept
    lib = libc()
    if lib is None:
        return False
    if not _set(lib, mmap_below, keep_free):
        return False
    _kept = (mmap_below, keep_free)
    return True


def give_back() -> bool:
    """Undo keep(): the environment's thresholds again, and the free heap handed back."""
    global _kept
    lib = libc()
    if lib is None:
        return False
    _kept = None
    _settle(lib)
    return True


@contextmanager
def blocks_on_heap(mmap_below: int = 32 * MIB, keep_free: int = 64 * MIB) -> Iterator[None]:
    """Allocations under ``mmap_below`` bytes from the heap, up to ``keep_free`` bytes of it
    kept for reuse, while the block runs (or more, when keep() set more); then the process's
    own settings again: keep()'s, or the environment's with the free heap handed back
    (malloc_trim). A process whose environment pins no threshold and that keep() did not
    change is left alone (mallopt would end glibc's adaptation)."""
    lib = libc()
    if lib is None or (_kept is None and not any(k in os.environ for k in PINNED_BY)):
        yield  # glibc's own dynamic thresholds already keep reused blocks on the heap
        return
    kept = _kept or (0, 0)
    _set(lib, max(mmap_below, kept[0]), max(keep_free, kept[1]))
    try:
        yield
    finally:
        _settle(lib)


def _set(lib: Any, mmap_below: int, keep_free: int) -> bool:
    """Both thresholds set (each tried even when the other is refused); whether both took."""
    mmap_set = lib.mallopt(M_MMAP_THRESHOLD, mmap_below)
    trim_set = lib.mallopt(M_TRIM_THRESHOLD, keep_free)
    return bool(mmap_set and trim_set)


def _settle(lib: Any) -> None:
    """The process's own thresholds again: keep()'s, or the environment's with the free heap
    handed back (malloc_trim)."""
    if _kept is not None:
        _set(lib, *_kept)
        return
    _set(lib, *environment_thresholds())
    lib.malloc_trim(0)


def environment_thresholds() -> tuple[int, int]:
    """glibc's mmap and trim thresholds as the environment sets them (Dask's workers:
    MALLOC_TRIM_THRESHOLD_), glibc's defaults for the one it does not."""
    return (
        _env_int("MALLOC_MMAP_THRESHOLD_", DEFAULT_MMAP),
        _env_int("MALLOC_TRIM_THRESHOLD_", DEFAULT_TRIM),
    )


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default
