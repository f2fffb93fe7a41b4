"""The service's one error tree; ``server/interceptors/errors.py`` maps it to status codes once.

    RecsvcError                      base: anything the service raises on purpose
    ├── InvalidRequest(field, msg)   INVALID_ARGUMENT: a request field is wrong (message names it)
    ├── Unauthenticated              UNAUTHENTICATED: missing or wrong credentials
    ├── NotFound                     NOT_FOUND: the named thing does not exist
    ├── FailedPrecondition           FAILED_PRECONDITION: the service is not configured for it
    ├── DeadlineExceeded             DEADLINE_EXCEEDED: the caller's budget ran out
    └── Unavailable                  UNAVAILABLE: a backend failed and no fallback exists
        ├── StoreUnavailable         the profile store (DynamoDB) failed or timed out
        └── CacheUnavailable         the cache (Redis) failed; callers treat it as a miss

Messages are shown to callers: they never carry user ids, emails or backend internals.
"""

from __future__ import annotations

__all__ = [
    "CacheUnavailable",
    "DeadlineExceeded",
    "FailedPrecondition",
    "InvalidRequest",
    "NotFound",
    "RecsvcError",
    "StoreUnavailable",
    "Unauthenticated",
    "Unavailable",
]


class RecsvcError(Exception):
    """Base of every error the service raises on purpose."""


class InvalidRequest(RecsvcError):
    """A request field is missing or out of bounds; ``field`` is its proto path."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class Unauthenticated(RecsvcError):
    """The caller did not present valid credentials."""


class NotFound(RecsvcError):
    """The requested segment (or other named thing) does not exist."""


class FailedPrecondition(RecsvcError):
    """The request is valid but the service is not set up for it (a setting is missing);
    the message names the setting. Retrying does not help until it is configured."""


class DeadlineExceeded(RecsvcError):
    """The request's deadline passed before an answer could be produced."""


class Unavailable(RecsvcError):
    """A backend is down and there is nothing to fall back on; the caller may retry."""


class StoreUnavailable(Unavailable):
    """The profile store failed, timed out or returned an incomplete batch."""


class CacheUnavailable(Unavailable):
    """The cache failed or timed out; never reaches a caller (cache-aside treats it as a miss)."""
