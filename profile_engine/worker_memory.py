"""Worker processes keep the memory their tasks free, for the next task to reuse.

Each task allocates and frees its scratch (a parse: ~150 MB of text, Arrow tables and
columns). Dask starts workers with glibc returning any free 64 KiB at the top of the heap
to the system and mapping every block over 128 KiB apart (unmapped when freed), and Arrow's
own allocator (mimalloc) purges what it frees within milliseconds: the next task then faults
every page in again, zeroed by the kernel, and on VMs that hand freed pages back to the host
(free page reporting, as on Firecracker) backed again by the host too. Measured on such a
VM: 0.13 s a GiB for a page kept, 2.3-2.8 s for one given back a few seconds earlier; a
file's parse 0.33 -> 0.24 s.

So workers keep up to a bounded amount free (a share of their memory limit) and Arrow
allocates from the same heap, in every stage but the trials (see returned_during). It is
set at run time (mallopt), so any Dask cluster the job is given, a LocalCluster or
`dask worker` processes on EMR, gets it through a plugin.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pyarrow as pa
from distributed import Client
from distributed.diagnostics.plugin import WorkerPlugin

from profile_engine import heap

log = logging.getLogger(__name__)

# Blocks up to this size come from the heap, so freeing them keeps them for reuse; glibc's
# largest accepted value (HEAP_MAX_SIZE / 2 on 64-bit). Larger ones are still mapped apart.
MMAP_THRESHOLD = 32 * 2**20
# Free memory kept at the heap's top: this share of the worker's memory limit, at most
# KEEP_MOST (the scratch of a task; more would only count against the limit).
KEEP_SHARE = 1 / 6
KEEP_MOST = 512 * 2**20
KEEP_UNLIMITED = 256 * 2**20  # a worker without a memory limit
_ARROW_DEFAULT = pa.default_memory_pool()


def keep_bytes(memory_limit: int | None) -> int:
    """The free memory a worker with this limit (bytes; None or 0: none) keeps."""
    if not memory_limit:
        return KEEP_UNLIMITED
    return min(int(memory_limit * KEEP_SHARE), KEEP_MOST)


def keep_freed(keep: int) -> bool:
    """Make this process keep up to ``keep`` bytes of freed memory; False where the C
    library is not glibc (nothing changed then: the job runs as before)."""
    if not heap.keep(MMAP_THRESHOLD, keep):
        return False
    # Buffers remember their pool, so those already allocated are freed where they came from.
    pa.set_memory_pool(pa.system_memory_pool())
    return True


def return_freed() -> bool:
    """Undo keep_freed: Dask's own settings (freed memory back to the system at once, Arrow's
    default pool), and what is kept now handed back."""
    if not heap.give_back():
        return False
    pa.set_memory_pool(_ARROW_DEFAULT)
    return True


def keep_on_worker(dask_worker: Any) -> bool:
    """keep_freed with the share of this worker's limit (for ``client.run``)."""
    limit = getattr(getattr(dask_worker, "memory_manager", None), "memory_limit", None)
    return keep_freed(keep_bytes(limit))


@contextmanager
def returned_during(client: Client, keeping: bool) -> Iterator[None]:
    """Workers hand freed memory back while the block runs (when ``keeping``: else nothing to
    undo). For the trials: with memory kept, their peak grew with the input (4x events:
    1.41-1.45x the 1x peak, against 1.17x), where the other stages' did not."""
    if not keeping:
        yield
        return
    _on_workers(client, return_freed)
    try:
        yield
    finally:
        _on_workers(client, keep_on_worker)


def _on_workers(client: Client, setting: Any) -> None:
    # A speed setting never fails the run: a worker lost meanwhile is the stage's to report.
    try:
        client.run(setting, on_error="return")
    except Exception:
        log.debug("could not change how workers keep freed memory", exc_info=True)


class KeepFreedMemory(WorkerPlugin):
    """keep_freed on every worker, including those that join or restart mid-run."""

    name = "profile-engine-keep-freed-memory"

    def setup(self, worker: Any) -> None:
        if not keep_on_worker(worker):
            log.info("worker %s: freed memory goes back to the system (not glibc)", worker)
