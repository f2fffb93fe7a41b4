"""What one run did, for the CLI and for logs: inputs, bad lines, outputs, warnings, timings."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass
class RunReport:
    as_of: str = ""
    inputs: dict[str, int] = field(default_factory=dict)
    events_by_type: dict[str, int] = field(default_factory=dict)
    bad_lines: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    segments: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    generation: str | None = None
    previous_generation: str | None = None
    published: dict[str, int] = field(default_factory=dict)
    dashboard: str | None = None
    gate: str | None = None  # the quality gate's verdict, when it ran

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a stage (recorded even when it fails, so a failed run shows where)."""
        started = time.perf_counter()
        log.info("stage %s started", name)
        try:
            yield
        finally:
            self.timings[name] = round(time.perf_counter() - started, 3)
            log.info("stage %s took %.1f s", name, self.timings[name])

    @property
    def bad_total(self) -> int:
        return sum(self.bad_lines.values())

    def format(self) -> str:
        def nums(d: dict[str, int]) -> str:
            return ", ".join(f"{k} {v:,}" for k, v in d.items()) or "none"

        lines = []
        if self.generation:
            prev = f" (was {self.previous_generation})" if self.previous_generation else ""
            lines.append(f"published generation {self.generation}{prev}")
        else:
            lines.append("nothing published")
        lines.append(f"as of       {self.as_of}")
        lines.append(f"inputs      {nums(self.inputs)}")
        lines.append(f"events      {nums(self.events_by_type)}")
        lines.append(
            f"bad lines   {self.bad_total:,}"
            + (f" ({nums(self.bad_lines)})" if self.bad_lines else "")
        )
        lines.append(f"outputs     {nums(self.counts)}")
        if self.metrics:
            lines.append(
                "metrics     " + ", ".join(f"{k} {v:.3f}" for k, v in self.metrics.items())
            )
        lines.append(f"segments    {nums(self.segments)}")
        if self.gate:
            lines.append(f"quality     {self.gate}")
        if self.published:
            lines.append(f"written     {nums(self.published)}")
        for w in self.warnings:
            lines.append(f"warning     {w}")
        total = sum(self.timings.values())
        lines.append(
            "seconds     "
            + ", ".join(f"{k} {v:.1f}" for k, v in self.timings.items())
            + f"; total {total:.1f}"
        )
        if self.dashboard:
            lines.append(f"dashboard   {self.dashboard}")
        return "\n".join(lines)
