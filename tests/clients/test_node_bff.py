"""A client no one here wrote: a Node BFF (@grpc/grpc-js, protos loaded at run time by
@grpc/proto-loader) against `python -m recsvc serve` over a published generation.

bff_client.js prints one JSON line per check; each check is asserted on here by name,
so a failure says which one broke. The npm packages come from `make test` (the Makefile's
node rule); set TEST_NODE_MODULES to use another node_modules directory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loopback import ROOT
from tests.recsvc.conftest import TOKEN, Published, start_recsvc_process
from tests.recsvc.conftest import published as published  # the fixture: one generation on moto

NODE = shutil.which("node")
NODE_MODULES = Path(os.environ.get("TEST_NODE_MODULES") or ROOT / ".cache/node/node_modules")
SCRIPT = Path(__file__).with_name("bff_client.js")
BFF_TOKEN = "bff-token"
BURST = 5000
# The same burst twice: on the client the checks used (connected), and on a new client
# whose calls all start before it has connected (a BFF instance starting under load).
BURSTS = (
    {"name": "burst_connected", "calls": BURST, "cold": False},
    {"name": "burst_cold", "calls": BURST, "cold": True},
)

CHECKS = (
    "info",
    "recommend_known",
    "recommend_context",
    "recommend_anonymous_and_track",
    "similar_items",
    "segment_resume",
    "segment_unauthenticated",
    "recommend_unauthenticated",
    "deadline_exceeded",
    "invalid_argument",
)

pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.skipif(NODE is None, reason="node is not installed (the Node BFF client needs it)"),
]


@pytest.fixture(scope="module")
def target(published: Published) -> Iterator[str]:
    """The service as deployed: its own process, Recommender closed to the BFF's token,
    server settings (max concurrent streams included) at their defaults."""
    proc, address = start_recsvc_process(
        published, "recsvc-node-bff",
        RECSVC_SEGMENT_TOKENS=TOKEN, RECSVC_RECOMMEND_TOKENS=BFF_TOKEN,
        RECSVC_ACCESS_LOG="false", RECSVC_GRACE_S="1", RECSVC_DRAIN_DELAY_S="0",
    )
    try:
        yield address
        assert proc.alive(), proc.output()[-3000:]
        assert '"level": "ERROR"' not in proc.output(), proc.output()[-3000:]
    finally:
        assert proc.stop() == 0, proc.output()[-3000:]


@pytest.fixture(scope="module")
def results(target: str, published: Published) -> dict[str, dict[str, Any]]:
    """Runs bff_client.js once (every check, then the bursts); its lines by check name."""
    for package in ("@grpc/grpc-js", "@grpc/proto-loader"):
        assert (NODE_MODULES / package).is_dir(), (
            f"{package} is not in {NODE_MODULES}: run `make test` (its node rule installs "
            "it with npm) or point TEST_NODE_MODULES at a node_modules directory that has it"
        )
    config = {
        "target": target,
        "protos": str(ROOT / "protos"),
        "token": TOKEN,
        "recommend_token": BFF_TOKEN,
        "generation": published.generation,
        "checks": CHECKS,
        "bursts": BURSTS,
        "burst_deadline_s": 60,
    }
    assert NODE is not None
    done = subprocess.run(
        [NODE, str(SCRIPT), json.dumps(config)],
        env={**os.environ, "NODE_PATH": str(NODE_MODULES)},
        capture_output=True, text=True, timeout=200, cwd=ROOT,
    )
    assert done.returncode == 0, f"bff_client.js crashed:\n{done.stderr[-3000:]}"
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return {line["check"]: line for line in lines}


@pytest.mark.parametrize("check", CHECKS)
def test_node_bff_check(results: dict[str, dict[str, Any]], check: str) -> None:
    assert check in results, f"bff_client.js printed nothing for {check}: {sorted(results)}"
    line = results[check]
    assert line["ok"], f"{check}: {line.get('error')}"


@pytest.mark.parametrize("burst", [b["name"] for b in BURSTS])
def test_burst_on_one_channel_all_succeed(results: dict[str, dict[str, Any]], burst: str) -> None:
    """5,000 Recommend calls started at once on one grpc-js channel, 60 s deadline: none
    may fail. The server advertises RECSVC_MAX_CONCURRENT_STREAMS, so the client queues
    the calls beyond it; without it grpc core cancels ~40% of them (README, "Calling
    from a BFF")."""
    assert burst in results, f"bff_client.js printed nothing for {burst}: {sorted(results)}"
    line = results[burst]
    assert "error" not in line, f"{burst}: {line['error']}"
    assert line["calls"] == BURST
    assert line["failed"] == 0, (
        f"{burst}: {line['failed']} of {BURST} calls failed; outcomes: {line['outcomes']}"
    )
