"""The gRPC transport: servicers, conversion, interceptors and server assembly."""

__all__: list[str] = []
