"""The `recsvc` command against a running server: readable tables, exit codes."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest

from tests.recsvc.conftest import TOKEN, Published, Running

pytestmark = pytest.mark.timeout(60)


async def recsvc(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    # Async subprocess: the server under test runs on this same event loop.
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "recsvc", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_recommend_info_and_segments_print_tables(server: Running) -> None:
    code, out, err = await recsvc("recommend", "u0001", "-k", "3", "--category", "hats",
                                  "--exclude", "P000", "--target", server.target)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("source STORE, generation ")
    assert lines[1].split() == ["#", "product", "score", "reason"]
    assert len(lines) == 3 + 3 and lines[3].split()[0] == "1"

    code, out, err = await recsvc("info", "--target", server.target)
    assert code == 0 and "users" in out and "ndcg@10" in out, err
    assert "served model: ranker" in out and "category_weight=1" in out
    assert "candidate" in out and "0.3300" in out and "family=ease, lambda=400" in out

    code, out, err = await recsvc("segments", "--token", TOKEN, "--target", server.target)
    assert code == 0, err
    assert [line.split()[0] for line in out.splitlines()[3:]] == ["high_value", "lapsed"]

    code, out, err = await recsvc("segment", "lapsed", "--limit", "2", "--token", TOKEN,
                                  "--target", server.target)
    assert code == 0, err
    assert out.splitlines()[0] == "2 members"
    assert [line.split()[0] for line in out.splitlines()[3:]] == ["u0001", "u0002"]


async def test_health_command_for_container_checks(server: Running) -> None:
    assert await recsvc("health", "--target", server.target) == (0, "SERVING\n", "")
    await server.graph.health.enter_graceful_shutdown()
    code, out, _ = await recsvc("health", "--target", server.target)
    assert (code, out) == (1, "NOT_SERVING\n")
    code, _, err = await recsvc("health", "--target", "127.0.0.1:1", "--timeout", "0.5")
    assert code == 1 and "UNAVAILABLE" in err


async def test_errors_print_the_status_and_exit_1(server: Running) -> None:
    code, out, err = await recsvc("segments", "--token", "wrong", "--target", server.target)
    assert code == 1 and "UNAUTHENTICATED" in err
    code, out, err = await recsvc("recommend", "x" * 200, "--target", server.target)
    assert code == 1 and "INVALID_ARGUMENT: user_id:" in err


async def test_show_prints_stored_items_as_json(published: Published) -> None:
    """Stored items are protobuf bytes; `recsvc show` reads them from the table as JSON."""
    env = {"RECSVC_TABLE": published.table, "RECSVC_DYNAMODB_ENDPOINT_URL": published.endpoint}
    code, out, err = await recsvc("show", "profile", "u0007", env=env)
    assert code == 0, err
    shown = json.loads(out)
    assert (shown["generation"], shown["kind"], shown["id"]) == (
        published.generation, "profile", "u0007")
    stored = next(p for p in published.data.profiles if p.user_id == "u0007")
    item = shown["item"]
    assert item["user_id"] == "u0007" and item["purchased"] == list(stored.purchased)
    # A ranked list reads as one row per item (stored as parallel arrays).
    assert item["recommendations"] == [
        {"product_id": r.product_id, "score": r.score, "reason": r.reason}
        for r in stored.recommendations
    ]
    # Short lists and rows stay on one line; the output is JSON all the same.
    assert f'"purchased": {json.dumps(list(stored.purchased))}' in out

    code, out, err = await recsvc("show", "neighbours", "P007", env=env)
    assert code == 0, err
    assert json.loads(out)["item"]["facts"] == {"category": "shirts", "in_stock": False}
    code, out, err = await recsvc("show", "manifest", env=env)
    assert code == 0 and json.loads(out)["item"]["format_version"] == 1, err
    code, out, err = await recsvc("show", "segment", "lapsed", "--limit", "2", env=env)
    assert [m["user_id"] for m in json.loads(out)["item"]] == ["u0001", "u0002"], err
    code, out, err = await recsvc("show", "pointer", env=env)
    assert json.loads(out)["generation"] == published.generation, err

    code, out, err = await recsvc("show", "profile", "nobody", env=env)
    assert code == 1 and "NotFound" in err and out == ""
    code, _, err = await recsvc("show", "profile", env=env)
    assert code == 2 and "needs an id" in err
