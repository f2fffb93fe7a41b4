"""recsvc: the online recommendation service (grpc.aio) over DynamoDB with a Redis cache."""

__version__ = "0.1.0"
__all__ = ["__version__"]
