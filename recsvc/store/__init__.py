"""Profile stores: the ProfileStore protocol, its backends, and ``open_store``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from recsvc.errors import StoreUnavailable
from recsvc.store.base import ProfileStore

if TYPE_CHECKING:  # settings are only a type here: backends are imported when chosen
    from recsvc.settings import Settings

__all__ = ["ProfileStore", "StoreUnavailable", "open_store"]


async def open_store(settings: Settings) -> ProfileStore:
    """The backend ``settings.store`` names, opened; imported only when chosen (aioboto3
    is not loaded for the in-memory store). The caller owns it: ``await store.aclose()``."""
    if settings.store == "memory":
        from recsvc.store.memory import InMemoryProfileStore

        return InMemoryProfileStore()
    from recsvc.store.dynamodb import DynamoProfileStore

    return await DynamoProfileStore.open(settings)
