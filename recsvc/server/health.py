"""grpc.health.v1 for the service, with watch streams that end when the server drains.

grpcio's own aio servicer keeps a Watch stream open forever, and `server.stop(grace)`
waits for every open call: one load balancer or BFF watching health held every
shutdown for the whole grace (CI caught it). Here a watch writes NOT_SERVING and then
ends with OK, which the health-checking spec tells clients to treat as "reconnect"; by
then the server refuses new calls, so the watcher moves elsewhere.
"""
from __future__ import annotations

import asyncio
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

Status = int  # a health_pb2.HealthCheckResponse.ServingStatus value


class DrainingHealthServicer(health_pb2_grpc.HealthServicer):
    def __init__(self) -> None:
        self._status: dict[str, Status] = {"": health_pb2.HealthCheckResponse.SERVING}
        self._changed = asyncio.Condition()
        self._draining = False

    async def set(self, service: str, status: Status) -> None:
        if self._draining:
            return  # shutdown is final: nothing turns health back on
        async with self._changed:
            self._status[service] = status
            self._changed.notify_all()

    async def enter_graceful_shutdown(self) -> None:
        async with self._changed:
            self._draining = True
            for service in self._status:
                self._status[service] = health_pb2.HealthCheckResponse.NOT_SERVING
            self._changed.notify_all()

    async def Check(self, request: health_pb2.HealthCheckRequest,
                    context: grpc.aio.ServicerContext[Any, Any]) -> health_pb2.HealthCheckResponse:
        status = self._status.get(request.service)
        if status is None:
            await context.abort(grpc.StatusCode.NOT_FOUND,
                                f"service {request.service!r} is not known here")
        return health_pb2.HealthCheckResponse(status=status)

    async def Watch(self, request: health_pb2.HealthCheckRequest,
                    context: grpc.aio.ServicerContext[Any, Any]) -> None:
        unknown = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
        last: Status | None = None
        async with self._changed:
            while True:
                status = self._status.get(request.service, unknown)
                if status != last:
                    await context.write(health_pb2.HealthCheckResponse(status=status))
                    last = status
                if self._draining:
                    return
                await self._changed.wait()
