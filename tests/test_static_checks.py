"""The code stays lint-clean (ruff) and type-checks (mypy strict) as part of the suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from loopback import ROOT

BIN = Path(sys.executable).parent
PACKAGES = ("generation", "clickstream", "segment_export", "recsvc", "profile_engine")


def check(*args: str) -> None:
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff() -> None:
    check(str(BIN / "ruff"), "check", *PACKAGES, "tests", "scripts", "bench")


def test_mypy_strict() -> None:
    check(str(BIN / "mypy"), *PACKAGES)


def test_readme_lists_every_setting() -> None:
    from profile_engine.settings import EngineSettings
    from recsvc.console.settings import ConsoleSettings
    from recsvc.settings import Settings

    readme = (ROOT / "README.md").read_text()
    for cls in (Settings, ConsoleSettings, EngineSettings):
        prefix = cls.model_config.get("env_prefix", "")
        for name in cls.model_fields:
            assert f"`{prefix}{name.upper()}`" in readme, f"{prefix}{name.upper()} not in README"
