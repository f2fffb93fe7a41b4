"""heap.blocks_on_heap: under Dask's worker allocator settings, large temporaries inside the
block reuse heap memory instead of a fresh page-faulted mmap each, and the settings are
back afterwards."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from profile_engine import heap

SCRIPT = """
import resource
import numpy as np
from profile_engine import heap

def faults(n=40):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(n):
        a = np.ones(1_000_000)  # 8 MB: over the 128 KiB mmap threshold Dask's trim pins
        del a
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

outside = faults()
with heap.blocks_on_heap():
    inside = faults()
after = faults()
print(outside, inside, after)
"""


LINUX = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only"
)


@LINUX
def test_blocks_on_heap_reuses_memory_under_dasks_trim_threshold() -> None:
    env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": "65536"}  # as Dask starts its workers
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                         text=True, check=True, cwd=os.getcwd()).stdout
    outside, inside, after = (int(v) for v in out.split())
    assert inside * 5 < outside  # outside: every array mapped and page-faulted afresh
    assert inside * 5 < after  # Dask's settings are back: memory returned on every free


@LINUX
def test_a_process_without_pinned_thresholds_is_left_alone() -> None:
    env = {k: v for k, v in os.environ.items() if k not in heap.PINNED_BY}
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                         text=True, check=True, cwd=os.getcwd()).stdout
    _, _, after = (int(v) for v in out.split())
    # glibc's adaptive threshold keeps reusing the heap after the block, as before it.
    assert after * 20 < 40 * 8_000_000 // 4096


KEPT = SCRIPT.replace(
    "outside = faults()",
    "from profile_engine import worker_memory\n"
    "worker_memory.keep_freed(256 * heap.MIB)\noutside = faults()",
)


@LINUX
def test_a_block_ends_with_what_keep_set_not_the_environments() -> None:
    # A worker keeping freed memory (worker_memory) runs blocks: each ends with the
    # process's kept settings, so the tasks after it keep reusing memory too.
    env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": "65536"}
    out = subprocess.run([sys.executable, "-c", KEPT], env=env, capture_output=True,
                         text=True, check=True, cwd=os.getcwd()).stdout
    outside, inside, after = (int(v) for v in out.split())
    assert after * 5 < 40 * 8_000_000 // 4096  # not every array faulted in afresh
    assert outside * 5 < 40 * 8_000_000 // 4096 and inside * 5 < 40 * 8_000_000 // 4096
