"""Real servers on loopback, for the demo, the tests and the benchmarks: free ports, waiting
with deadlines, subprocesses we own, moto and dynalite (DynamoDB, S3), a Dask cluster.

Development support, not part of either role: it is not in the wheel, and nothing in
``generation``, ``segment_export``, ``recsvc`` or ``profile_engine`` imports it.

    ports.py         free_port, port_open
    waiting.py       poll_for (threads), wait_until (asyncio): deadlines, never fixed sleeps
    processes.py     Proc: a subprocess whose output is kept for when it misbehaves
    aws.py           moto_server (in-process, threaded), dynalite_server (npm)
    dask_cluster.py  a `dask scheduler` + `dask worker` processes
    console.py       the console as a subprocess; a made-up history of generations for it
"""

from pathlib import Path

# The repository's root: subprocesses run here (so `python -m recsvc` imports this tree).
ROOT = Path(__file__).resolve().parent.parent
