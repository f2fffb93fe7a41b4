"""The package build generates the gRPC code from protos/ (it is never committed)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from loopback import ROOT


def test_generated_code_is_not_committed() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "recsvc/api"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert tracked == ""


def test_wheel_carries_code_generated_from_the_protos(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    [wheel] = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in ("recommender", "segments"):
        for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py"):
            assert f"recsvc/api/v1/{module}{suffix}" in names
    assert "generation/v1/payloads_pb2.py" in names
    assert {"profile_engine/cli.py", "generation/layout.py", "recsvc/store/dynamodb.py"} <= names
