"""Access control (bearer tokens, mTLS), TLS, request size limits, and the metrics endpoint."""

from __future__ import annotations

import re
import subprocess
import urllib.request
from pathlib import Path

import grpc
import pytest

from recsvc.api.v1 import recommender_pb2 as rpb
from recsvc.api.v1 import recommender_pb2_grpc as rpb_grpc
from recsvc.api.v1 import segments_pb2 as spb
from recsvc.api.v1 import segments_pb2_grpc as spb_grpc
from tests.recsvc.conftest import Published, Running, StartServer, auth

pytestmark = pytest.mark.timeout(60)


async def test_segments_need_the_token(server: Running) -> None:
    stub = spb_grpc.SegmentsStub(server.channel)
    for metadata in ((), auth("wrong"), (("authorization", "Basic abc"),)):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.ListSegments(spb.ListSegmentsRequest(), metadata=metadata, timeout=5)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    listing = await stub.ListSegments(spb.ListSegmentsRequest(), metadata=auth(), timeout=5)
    assert {s.name for s in listing.segments} == {"high_value", "lapsed"}


async def test_recommend_can_be_opened_to_the_bff_alone(start_server: StartServer) -> None:
    r = await start_server(recommend_tokens="bff-token")
    stub = rpb_grpc.RecommenderStub(r.channel)
    request = rpb.RecommendRequest(user_id="u0001", k=3)
    # The Segments token is not the BFF's.
    for metadata in ((), auth()):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.Recommend(request, metadata=metadata, timeout=5)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    answer = await stub.Recommend(request, metadata=auth("bff-token"), timeout=5)
    assert len(answer.items) == 3


async def test_oversized_requests_are_refused_and_the_server_stays_up(
    start_server: StartServer,
) -> None:
    r = await start_server(max_request_bytes=4096)
    stub = rpb_grpc.RecommenderStub(r.channel)
    huge = rpb.RecommendRequest(user_id="u0001", context=rpb.RecommendContext(
        exclude_product_ids=[f"P{n:05d}" for n in range(2000)]))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Recommend(huge, timeout=5)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    big_header = (("x-junk", "x" * 40_000),)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Recommend(rpb.RecommendRequest(user_id="u0001"), metadata=big_header,
                             timeout=5)
    assert err.value.code() in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.INTERNAL,
                                grpc.StatusCode.UNAVAILABLE)  # refused by the transport
    assert len((await stub.Recommend(rpb.RecommendRequest(user_id="u0001"), timeout=5)).items)


async def test_metrics_endpoint(server: Running, published: Published) -> None:
    port = server.graph.metrics.serve("127.0.0.1", 0)
    try:
        stub = rpb_grpc.RecommenderStub(server.channel)
        for _ in range(3):
            await stub.Recommend(rpb.RecommendRequest(user_id="u0002"), timeout=5)
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.Recommend(rpb.RecommendRequest(user_id=""), timeout=5)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
    finally:
        server.graph.metrics.close()
    method = 'method="/recsvc.api.v1.Recommender/Recommend"'
    assert f'recsvc_requests_total{{code="OK",{method},source="cache"}} 2.0' in text
    assert f'recsvc_requests_total{{code="OK",{method},source="store"}} 1.0' in text
    assert f'recsvc_requests_total{{code="INVALID_ARGUMENT",{method},source=""}} 1.0' in text
    assert re.search(r'recsvc_request_seconds_bucket\{.*le="2.5".*\} 4\.0', text), text
    assert re.search(r'recsvc_request_seconds_count\{.*Recommend.*\} 4\.0', text), text
    assert "recsvc_cache_hit_ratio" in text
    assert f'recsvc_generation_served{{generation="{published.generation}"}} 1.0' in text
    assert 'recsvc_recommend_events_total{event="cache"} 2.0' in text
    assert "u0002" not in text  # no user ids in label values


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate (CN=marketing)."""
    d = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test-ca",
             "-keyout", "ca.key", "-out", "ca.pem", cwd=d)
    for name, extra in (("server", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
                        ("client", "extendedKeyUsage=clientAuth")):
        cn = "localhost" if name == "server" else "marketing"
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}",
                 "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=d)
        (d / f"{name}.ext").write_text(extra + "\n")
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-days", "1", "-extfile", f"{name}.ext",
                 "-out", f"{name}.pem", cwd=d)
    return d


async def test_tls_and_mtls_client_certificate_opens_segments(
    start_server: StartServer, pki: Path
) -> None:
    r = await start_server(
        tls_cert_file=str(pki / "server.pem"), tls_key_file=str(pki / "server.key"),
        tls_client_ca_file=str(pki / "ca.pem"), client_cert_names="marketing",
        segment_tokens="",
    )
    ca = (pki / "ca.pem").read_bytes()
    creds = grpc.ssl_channel_credentials(
        root_certificates=ca,
        private_key=(pki / "client.key").read_bytes(),
        certificate_chain=(pki / "client.pem").read_bytes(),
    )
    async with grpc.aio.secure_channel(f"127.0.0.1:{r.port}", creds) as channel:
        listing = await spb_grpc.SegmentsStub(channel).ListSegments(
            spb.ListSegmentsRequest(), timeout=5)
        assert listing.segments
        answer = await rpb_grpc.RecommenderStub(channel).Recommend(
            rpb.RecommendRequest(user_id="u0001", k=2), timeout=5)
        assert len(answer.items) == 2
    # TLS without a client certificate: the handshake is refused.
    plain_tls = grpc.ssl_channel_credentials(root_certificates=ca)
    async with grpc.aio.secure_channel(f"127.0.0.1:{r.port}", plain_tls) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await rpb_grpc.RecommenderStub(channel).Recommend(
                rpb.RecommendRequest(user_id="u0001"), timeout=5)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
