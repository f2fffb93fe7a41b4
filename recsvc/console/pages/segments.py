"""Segments: every segment of the served generation with its figures, and one segment's
size over time, rule and (for marketers) a preview of members with masked addresses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from generation.summaries import GenerationSummary, SegmentSummary
from recsvc.console.pages.charts import segment_chart
from recsvc.console.pages.common import console, render, require
from recsvc.console.readers.generation import Served

__all__ = ["routes"]


@dataclass(frozen=True, slots=True)
class SegmentRow:
    figures: SegmentSummary
    # False when the served generation has no summary: only size and rule are known.
    summarised: bool


def _rows(served: Served, summaries: Sequence[GenerationSummary]) -> list[SegmentRow]:
    """The served generation's segments, with its summary's figures when there is one
    (a rolled-back pointer serves an older generation than the newest summary)."""
    gen = served.pointer.generation
    summary = next((s for s in summaries if s.generation == gen), None)
    if summary is not None:
        return [SegmentRow(g, True) for g in sorted(summary.segments, key=lambda g: g.name)]
    return [SegmentRow(SegmentSummary(s.name, s.description, s.size), False)
            for s in sorted(served.manifest.segments, key=lambda s: s.name)]


async def segment_list(request: Request) -> Response:
    require(request, "viewer")
    c = console(request)
    served = await c.reader.served()
    summaries = await c.reader.summaries(served.pointer.generation)
    summary = next((s for s in summaries if s.generation == served.pointer.generation), None)
    return render(request, "segments.html", pointer=served.pointer,
                  rows=_rows(served, summaries),
                  previous=summary.previous if summary else "")


async def segment_page(request: Request) -> Response:
    user = require(request, "viewer")
    c = console(request)
    name = request.path_params["name"]
    served = await c.reader.served()
    summaries = await c.reader.summaries(served.pointer.generation)
    row = next((r for r in _rows(served, summaries) if r.figures.name == name), None)
    if row is None:
        raise HTTPException(404, "There is no segment of that name in the served generation.")
    preview = None
    if user.can("marketer"):
        preview = await c.reader.preview(served.pointer.generation, name,
                                         c.settings.preview_members)
    return render(request, "segment.html", pointer=served.pointer, row=row,
                  history=segment_chart(summaries, name), preview=preview,
                  can_export=user.can("marketer"))


routes = [
    Route("/segments", segment_list),
    Route("/segments/{name:str}", segment_page),
]
