"""The batch job's one error tree; ``cli.py`` maps it to exit codes and messages once.

    EngineError                 base: anything the job raises on purpose
    ├── SettingsError           exit 2: a PROFILE_ENGINE_* variable or flag is wrong (named)
    ├── SegmentFileError        exit 2: the segment file is wrong (segment, rule, field named);
    │                           found before a cluster starts or any input is read
    ├── InputError              exit 1: the inputs cannot make a generation (no products,
    │                           no events and no orders)
    ├── AlignmentError          exit 1: per-user frames that must line up do not (a bug)
    ├── PublishError            exit 1: the generation was not written completely; the
    │                           pointer did not move
    ├── MembershipError         exit 1: the segment membership files could not be written
    │                           (or the previous generation's read); nothing published
    ├── ServedTableError        exit 1: reading what the table serves (export-segment):
    │   ├── NothingServed       no pointer, or its manifest expired
    │   ├── UnreadableFormat    written in a payload format this version cannot read
    │   ├── SegmentNotFound     the served generation has no segment of that name
    │   └── RollbackRefused     exit 2: rollback to an unknown, served, expiring or
    │                           unreadable generation
    └── GateRefused             exit 3: the quality gate kept the served generation (raised
                                by the CLI once the run report is printed)

The shared segment export (segment_export.errors) maps too: a wrong request field or a
missing setting exits 2, a failed write or import job 1. Any other exception is a failure
too (exit 1). Whatever the error, the served generation
stays as it was: the pointer moves only after every item is written.
"""

from __future__ import annotations

__all__ = [
    "AlignmentError",
    "EngineError",
    "GateRefused",
    "InputError",
    "MembershipError",
    "NothingServed",
    "PublishError",
    "RollbackRefused",
    "SegmentNotFound",
    "ServedTableError",
    "SegmentFileError",
    "SettingsError",
    "UnreadableFormat",
]


class EngineError(Exception):
    """Base of every error the batch job raises on purpose."""


class SettingsError(EngineError):
    """Bad configuration, described by environment variable names and values."""


class SegmentFileError(EngineError):
    """The segment file is wrong; the message names the segment, rule and field."""


class InputError(EngineError):
    """The inputs cannot produce a generation (nothing was published)."""


class AlignmentError(EngineError):
    """Per-user frames that should hold the same users per partition do not line up."""


class PublishError(EngineError):
    """The generation could not be written completely; the pointer was not flipped."""


class MembershipError(EngineError):
    """The segment membership files could not be written or compared; nothing published."""


class ServedTableError(EngineError):
    """What the table serves cannot be read as asked."""


class NothingServed(ServedTableError):
    """The table has no generation pointer, or the served generation's manifest expired."""


class UnreadableFormat(ServedTableError):
    """The served generation is written in a payload format this version cannot read."""


class SegmentNotFound(ServedTableError):
    """The served generation has no segment of that name."""


class RollbackRefused(ServedTableError):
    """The asked generation cannot be served again (unknown, expired, unreadable, served)."""


class GateRefused(EngineError):
    """The quality gate refused the new generation; the served one was not changed."""
