"""Train on the part before the cut: `profile-engine run --as-of` (the job drops every
event and order line after its as-of) publishing to moto's DynamoDB."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loopback import ROOT


@dataclass(frozen=True)
class Trained:
    generation: str
    seconds: float
    report: dict[str, Any]


def as_of(cut_ms: int) -> str:
    """The last millisecond before the cut, ISO-8601 UTC (the job keeps ts <= as-of)."""
    from datetime import UTC, datetime

    moment = datetime.fromtimestamp((cut_ms - 1) / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def create_table(endpoint: str, table: str) -> None:
    import boto3

    from generation import layout

    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    client.create_table(**layout.table_definition(table))


def run_job(workdir: Path, events_dir: Path, replica_url: str, endpoint: str, table: str,
            cut_ms: int) -> Trained:
    """The batch job on the train part (quality gate off: nothing to compare with)."""
    create_table(endpoint, table)
    report_path, log_path = workdir / "run.json", workdir / "run.log"
    started = time.perf_counter()
    with log_path.open("wb") as log:
        done = subprocess.run(
            [sys.executable, "-m", "profile_engine", "run", "--events", str(events_dir),
             "--replica-url", replica_url, "--table", table, "--dynamodb-endpoint-url",
             endpoint, "--as-of", as_of(cut_ms), "--force", "--json", str(report_path)],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            env=_env(), check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"profile-engine run failed ({done.returncode}):\n"
                           f"{log_path.read_text(errors='replace')[-4000:]}")
    report = json.loads(report_path.read_text())
    return Trained(str(report.get("generation") or ""), time.perf_counter() - started, report)


def _env() -> dict[str, str]:
    import os

    return {**os.environ, "PROFILE_ENGINE_QUALITY_GATE": "false"}
