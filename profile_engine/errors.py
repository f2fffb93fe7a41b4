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
    └── GateRefused             exit 3: the quality gate kept the served generation (raised
                                by the CLI once the run report is printed)

Any other exception is a failure too (exit 1). Whatever the error, the served generation
stays as it was: the pointer moves only after every item is written.
"""

from __future__ import annotations

__all__ = [
    "AlignmentError",
    "EngineError",
    "GateRefused",
    "InputError",
    "PublishError",
    "SegmentFileError",
    "SettingsError",
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


class GateRefused(EngineError):
    """The quality gate refused the new generation; the served one was not changed."""
