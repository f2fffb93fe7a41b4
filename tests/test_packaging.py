"""The package build generates the gRPC code from protos/ (it is never committed)."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

from loopback import ROOT


def test_generated_code_is_not_committed() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "recsvc/api"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert tracked == ""


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The files of the project's wheel, built once for the module."""
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    [wheel] = out.glob("*.whl")
    return set(zipfile.ZipFile(wheel).namelist())


def test_wheel_carries_code_generated_from_the_protos(wheel_names: set[str]) -> None:
    names = wheel_names
    for module in ("recommender", "segments"):
        for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py"):
            assert f"recsvc/api/v1/{module}{suffix}" in names
    assert "generation/v1/payloads_pb2.py" in names
    assert {"profile_engine/cli.py", "generation/layout.py", "recsvc/store/dynamodb.py"} <= names


def test_wheel_carries_the_console_s_templates_and_browser_libraries(
    wheel_names: set[str],
) -> None:
    """The console serves chart.js and htmx itself (built from npm by `make venv`): the
    wheel, and so the image, must carry them with the templates."""
    from recsvc.console.app import STATIC, VENDOR_FILES

    names = wheel_names
    templates = {f"recsvc/console/templates/{p.name}"
                 for p in (STATIC.parent / "templates").glob("*.html")}
    assert templates and templates <= names
    assert {"recsvc/console/static/console.js", "recsvc/console/static/console.css"} <= names
    for vendor in VENDOR_FILES:
        assert f"recsvc/console/static/vendor/{vendor}" in names
