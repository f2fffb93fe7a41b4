"""Real datasets into the engine's inputs (replica tables + event log), one adapter per dataset."""

from profile_engine.importers.online_retail import import_online_retail
from profile_engine.importers.taobao import import_taobao

__all__ = ["import_online_retail", "import_taobao"]
