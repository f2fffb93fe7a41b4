"""What the shop shows a shopper now: Lookup asks the running service (Recommend over
gRPC), so support sees the answer the shopper gets, re-ranked and filtered."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from recsvc.api.v1 import recommender_pb2 as rpb
from recsvc.api.v1 import recommender_pb2_grpc as rgrpc
from recsvc.errors import Unavailable
from recsvc.requests import recommend_request

__all__ = ["Recommendations", "RecommendClient"]

SOURCES = {rpb.SOURCE_CACHE: "cache", rpb.SOURCE_STORE: "store",
           rpb.SOURCE_FALLBACK: "fallback", rpb.SOURCE_SESSION: "session"}


@dataclass(frozen=True, slots=True)
class Recommendations:
    items: tuple[tuple[str, float, str], ...]  # (product id, score, reason)
    source: str
    generation: str


class RecommendClient:
    def __init__(self, target: str, *, tls: bool, token: str, timeout_s: float) -> None:
        self._channel = (grpc.aio.secure_channel(target, grpc.ssl_channel_credentials())
                         if tls else grpc.aio.insecure_channel(target))
        self._stub = rgrpc.RecommenderStub(self._channel)
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self._timeout_s = timeout_s

    async def recommend(self, user_id: str, k: int = 10) -> Recommendations:
        """Unavailable (naming the status code only) when the service does not answer."""
        try:
            r = await self._stub.Recommend(recommend_request(user_id, k),
                                           timeout=self._timeout_s, metadata=self._metadata)
        except grpc.aio.AioRpcError as exc:
            raise Unavailable(f"the service answered {exc.code().name}") from exc
        return Recommendations(
            tuple((i.product_id, i.score, i.reason) for i in r.items),
            SOURCES.get(r.source, "unknown"), r.generation)

    async def aclose(self) -> None:
        await self._channel.close()
