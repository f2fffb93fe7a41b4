"""Modules that hold the service's rules import no grpc: only server/ knows the transport."""

from __future__ import annotations

import subprocess
import sys

from tests.servers import ROOT

DOMAIN = (
    "recsvc.answers", "recsvc.recommender", "recsvc.ranking", "recsvc.segments",
    "recsvc.generation", "recsvc.cache", "recsvc.cache.aside", "recsvc.cache.memory",
    "recsvc.cache.redis", "recsvc.store", "recsvc.store.dynamodb", "recsvc.store.memory",
    "recsvc.export", "recsvc.export.service",
)


def test_domain_modules_import_no_grpc() -> None:
    # A fresh interpreter: this test process has grpc loaded already.
    code = (
        f"import importlib, sys\nfor m in {DOMAIN!r}: importlib.import_module(m)\n"
        "print(sorted(m for m in sys.modules if m == 'grpc' or m.endswith('_pb2')))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
