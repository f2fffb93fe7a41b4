"""The cache key scheme, in one place: ``<prefix>:<generation>:<kind>:<id>``.

The generation is part of every key, so a new generation never reads an old entry and
nothing has to be invalidated: old keys simply expire. The id goes last, so ids that
contain ":" cannot collide with another kind or generation.
"""

from __future__ import annotations

__all__ = ["FACTS", "NEIGHBOURS", "POPULAR", "PROFILE", "build"]

PROFILE = "profile"
NEIGHBOURS = "nbrs"
FACTS = "facts"
POPULAR = "popular"


def build(prefix: str, generation: str, kind: str, id_: str) -> str:
    return f"{prefix}:{generation}:{kind}:{id_}"
