"""Which payload format a generation is written in, and which formats readers understand.

Format 1: protobuf payloads (protos/generation/v1/payloads.proto) in binary attributes.
Bump FORMAT_VERSION when a change to the messages would be misread by a reader of the
current format (a renamed meaning, a field whose absence changes the answer); adding a
field that old readers may safely ignore keeps the version. A service refuses to switch to
a generation whose format is not in its READABLE_FORMATS and keeps serving the one it has.
"""

from __future__ import annotations

__all__ = ["FORMAT_VERSION", "READABLE_FORMATS"]

FORMAT_VERSION = 1
READABLE_FORMATS = frozenset({1})
