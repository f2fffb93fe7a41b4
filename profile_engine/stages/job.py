"""What every stage of one run shares: settings, Dask client, run report, and waiting on work."""

from __future__ import annotations

import sys
from contextlib import redirect_stdout
from dataclasses import dataclass
from typing import Any

from distributed import Client, progress, wait

from profile_engine.run_report import RunReport
from profile_engine.settings import EngineSettings


@dataclass(frozen=True)
class Job:
    settings: EngineSettings
    client: Client
    report: RunReport  # filled in by the stages as they go
    workers: int  # workers up when the run started: how far publishing computes ahead


def wait_for(job: Job, collections: list[Any]) -> None:
    """wait() for persisted collections, with Dask's progress bar on stderr when someone
    watches the run on a terminal (a bar redrawn with \\r would garble a log file)."""
    if job.report.echo is not None and sys.stderr.isatty():
        with redirect_stdout(sys.stderr):  # the bar writes to stdout; the report goes there
            progress(collections, multi=False, notebook=False)
    wait(collections)
