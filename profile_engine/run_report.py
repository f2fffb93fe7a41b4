"""What one run did, for the CLI and for logs: inputs, bad lines, outputs, warnings, timings,
events/s and peak worker memory per stage."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from generation import ModelChoice

log = logging.getLogger(__name__)

MB = 2**20
# Stages that process no events (the catalogue, planning): events/s would say nothing.
NO_EVENTS = frozenset({"catalog", "plan replica reads"})


@dataclass
class RunReport:
    as_of: str = ""
    inputs: dict[str, int] = field(default_factory=dict)
    events_by_type: dict[str, int] = field(default_factory=dict)
    bad_lines: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    segments: dict[str, int] = field(default_factory=dict)
    # Per segment: reachable members, and who joined and left since ``compared_with``
    # (membership files under ``membership_url``; "" when none were written / compared).
    membership: dict[str, dict[str, int]] = field(default_factory=dict)
    compared_with: str = ""
    membership_url: str = ""
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    generation: str | None = None
    previous_generation: str | None = None
    published: dict[str, int] = field(default_factory=dict)
    # Publishing from the workers: items, bytes, items/s overall and per worker.
    publish: dict[str, Any] = field(default_factory=dict)
    dashboard: str | None = None
    gate: str | None = None  # the quality gate's verdict, when it ran
    model: ModelChoice | None = None  # what the tuning chose to serve, and why
    # modelled_products, products_with_interactions: how much of the catalogue the ranker
    # covers (empty when a baseline without a model is served).
    model_coverage: dict[str, int] = field(default_factory=dict)
    # Peak RSS (bytes): per worker over the run, and per stage the largest of any worker.
    peak_rss: dict[str, int] = field(default_factory=dict)
    stage_peak_rss: dict[str, int] = field(default_factory=dict)
    # Set by the job: the workers' peak RSS since the last call, and where stage lines go.
    memory_probe: Callable[[], dict[str, int]] | None = field(
        default=None, repr=False, compare=False
    )
    echo: Callable[[str], None] | None = field(default=None, repr=False, compare=False)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a stage and take the workers' peak memory at its end (recorded even when it
        fails, so a failed run shows where)."""
        started = time.perf_counter()
        log.info("stage %s started", name)
        try:
            yield
        finally:
            self.timings[name] = round(time.perf_counter() - started, 3)
            self._take_memory(name)
            line = self.stage_line(name)
            log.info("stage %s", line)
            if self.echo is not None:
                self.echo(f"stage {line}")

    def _take_memory(self, name: str) -> None:
        if self.memory_probe is None:
            return
        peaks = self.memory_probe()
        if peaks:
            self.stage_peak_rss[name] = max(peaks.values())
        for worker, peak in peaks.items():
            self.peak_rss[worker] = max(self.peak_rss.get(worker, 0), peak)

    def stage_line(self, name: str) -> str:
        """One stage's figures: seconds, events/s, the largest worker's peak RSS."""
        parts = [f"{name}: {self.timings[name]:.1f} s"]
        rate = self.events_per_s.get(name)
        if rate is not None:
            parts.append(f"{rate:,.0f} events/s")
        if name in self.stage_peak_rss:
            parts.append(f"peak worker RSS {self.stage_peak_rss[name] / MB:,.0f} MB")
        return ", ".join(parts)

    def record_membership(self, previous: str, url: str,
                          figures: dict[str, tuple[int, int, int]]) -> None:
        """Each segment's (reachable, joined, left) and what joined/left compare with."""
        self.compared_with, self.membership_url = previous, url
        self.membership = {name: {"reachable": r, "joined": j, "left": left}
                           for name, (r, j, left) in figures.items()}

    def _membership_lines(self) -> list[str]:
        if not self.membership:
            return []
        lines = ["reachable   " + ", ".join(
            f"{k} {v['reachable']:,}" for k, v in self.membership.items())]
        if self.compared_with:
            moved = {k: v for k, v in self.membership.items() if v["joined"] or v["left"]}
            same = len(self.membership) - len(moved)
            lines.append(f"changes     since {self.compared_with}: " + ", ".join(
                [*(f"{k} +{v['joined']:,} -{v['left']:,}" for k, v in moved.items()),
                 *([f"{same} unchanged"] if same else [])]))
        else:
            why = ("no membership files of a served generation yet" if self.membership_url
                   else "no membership location set")
            lines.append(f"changes     not counted ({why})")
        return lines

    @property
    def bad_total(self) -> int:
        return sum(self.bad_lines.values())

    @property
    def events(self) -> int:
        """Input records the job processes: event lines (bad ones too) and order lines."""
        return self.inputs.get("event_lines", 0) + self.inputs.get("order_lines", 0)

    @property
    def events_per_s(self) -> dict[str, float]:
        """Per stage: events / the stage's seconds (which stages bound the throughput);
        "total" over the whole run. Empty until the events are counted."""
        if not self.events:
            return {}
        out = {
            k: self.events / v for k, v in self.timings.items() if k not in NO_EVENTS and v > 0
        }
        total = sum(self.timings.values())
        if total > 0:
            out["total"] = self.events / total
        return out

    @property
    def peak_rss_mb(self) -> float:
        """The largest peak RSS of any worker over the run (0 when not measured)."""
        return max(self.peak_rss.values(), default=0) / MB

    def as_json(self) -> dict[str, Any]:
        """Everything ``format`` shows, as plain JSON values (memory in MB)."""
        hooks = ("memory_probe", "echo", "peak_rss", "stage_peak_rss")
        doc = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in hooks}
        doc["model"] = asdict(self.model) if self.model is not None else None
        doc["bad_total"] = self.bad_total
        doc["events"] = self.events
        doc["events_per_s"] = {k: round(v, 1) for k, v in self.events_per_s.items()}
        doc["peak_rss_mb"] = round(self.peak_rss_mb, 1)
        doc["peak_rss_mb_per_worker"] = {k: round(v / MB, 1) for k, v in self.peak_rss.items()}
        doc["stage_peak_rss_mb"] = {k: round(v / MB, 1) for k, v in self.stage_peak_rss.items()}
        return doc

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
        lines += self._membership_lines()
        if self.model is not None:
            lines.append(f"model       {self.model.reason}")
            if self.model.settings:
                lines.append(
                    "settings    " + ", ".join(f"{k} {v}" for k, v in self.model.settings.items())
                )
            if self.model_coverage:
                c = self.model_coverage
                lines.append(
                    f"modelled    {c['modelled_products']:,} of the "
                    f"{c['products_with_interactions']:,} products with interactions"
                )
            if self.model.trials and not self.model.used_s and self.model.tuned_at:
                lines.append(
                    f"tuning      none this run: the choice of {self.model.tuned_at} "
                    f"({len(self.model.trials)} trials) is carried"
                )
            elif self.model.trials:
                lines.append(
                    f"tuning      {len(self.model.trials)} trials in {self.model.used_s:.1f} s "
                    f"(budget {self.model.budget_s:g} s)"
                )
        if self.gate:
            lines.append(f"quality     {self.gate}")
        if self.published:
            lines.append(f"written     {nums(self.published)}")
        if self.publish.get("mode") == "import":
            i = self.publish["import"]
            lines.append(
                f"publish     imported {i['items']:,} items into {i['table']}: {i['files']} "
                f"files, {i['json_bytes'] / MB:,.1f} MB DynamoDB JSON ({i['gzip_bytes'] / MB:,.1f}"
                f" MB gzip) staged in {i['staging_s']:.1f} s, imported in {i['import_s']:.1f} s; "
                f"first file to flip {i['first_file_to_flip_s']:.1f} s"
                + (f"; deleted {', '.join(i['deleted_tables'])}" if i["deleted_tables"] else "")
            )
        elif self.publish:
            p = self.publish
            per = ", ".join(f"{w} {r['items_per_s']:,.0f} items/s ({int(r['items']):,})"
                            for w, r in sorted(p["workers"].items()))
            lines.append(
                f"publish     {p['items']:,} items, {p['bytes'] / MB:,.1f} MB by "
                f"{len(p['workers'])} workers ({p['in_flight_per_worker']} requests in flight "
                f"each) in {p['seconds_on_workers']:.1f} s: {p['items_per_s']:,.0f} items/s; "
                f"per worker {per}"
            )
        for w in self.warnings:
            lines.append(f"warning     {w}")
        total = sum(self.timings.values())
        lines.append(
            "seconds     "
            + ", ".join(f"{k} {v:.1f}" for k, v in self.timings.items())
            + f"; total {total:.1f}"
        )
        if self.events_per_s:
            lines.append(
                "events/s    "
                + ", ".join(f"{k} {v:,.0f}" for k, v in self.events_per_s.items())
            )
        if self.peak_rss:
            workers = sorted(self.peak_rss.values())
            lines.append(
                f"memory      peak RSS per worker {self.peak_rss_mb:,.0f} MB ("
                + ", ".join(f"{v / MB:,.0f}" for v in workers)
                + " MB); by stage "
                + ", ".join(f"{k} {v / MB:,.0f}" for k, v in self.stage_peak_rss.items())
            )
        if self.dashboard:
            lines.append(f"dashboard   {self.dashboard}")
        return "\n".join(lines)
