"""The architecture, checked rather than described: the import contracts in pyproject.toml
(import-linter) and modules small enough to have one job each."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from loopback import ROOT

BIN = Path(sys.executable).parent
# The style guide's bound: a module nearing this holds more than one job; split it.
MAX_MODULE_LINES = 400


def test_import_contracts_hold() -> None:
    """The halves meet only at the contract, domain modules import no grpc, each role
    imports only its own extra, and there is no import cycle at any depth."""
    done = subprocess.run(
        [str(BIN / "lint-imports"), "--no-cache"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_no_module_over_400_lines() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    # Generated code is never tracked (tests/test_packaging.py checks it).
    sizes = {path: len((ROOT / path).read_text().splitlines()) for path in tracked}
    too_big = {path: n for path, n in sizes.items() if n > MAX_MODULE_LINES}
    assert not too_big, f"modules over {MAX_MODULE_LINES} lines: {too_big}"


def test_the_console_contract_names_every_service_module() -> None:
    """The service role's contract against the console's web stack lists recsvc's modules
    one by one (the console lives inside recsvc): a new module must join the list."""
    import tomllib

    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
        "contracts"]
    [contract] = [c for c in contracts if "console's web stack" in c["name"]]
    listed = {m for m in contract["source_modules"] if m.startswith("recsvc.")}
    package = ROOT / "recsvc"
    modules = {
        f"recsvc.{p.stem}" for p in package.iterdir()
        if (p.suffix == ".py" and p.stem not in {"__init__", "__main__"})
        or (p.is_dir() and (p / "__init__.py").exists())
    } - {"recsvc.console", "recsvc.api"}
    assert listed == modules
