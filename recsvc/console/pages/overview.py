"""Overview: the served generation, quality and counts over the last generations, and
the service's live figures (a fragment the page refreshes)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from recsvc.console.pages.charts import HIDDEN_COUNTS, QUALITY, counts_chart, quality_chart
from recsvc.console.pages.common import console, render, require

__all__ = ["routes"]


async def overview(request: Request) -> Response:
    require(request, "viewer")
    c = console(request)
    served = await c.reader.served()
    summaries = await c.reader.summaries(served.pointer.generation)
    m = served.manifest
    return render(
        request, "overview.html",
        pointer=served.pointer, manifest=m,
        counts=sorted((k, v) for k, v in m.counts.items() if k not in HIDDEN_COUNTS),
        metrics=sorted(m.metrics.items()),
        headline=[(label, m.metrics.get(key)) for key, label in QUALITY],
        generations=len(summaries),
        quality=quality_chart(summaries), sizes=counts_chart(summaries),
        live=c.metrics.figures(), metrics_configured=c.metrics.configured,
        metrics_errors=c.metrics.errors,
    )


async def live(request: Request) -> Response:
    require(request, "viewer")
    c = console(request)
    return render(request, "live.html", live=c.metrics.figures(),
                  metrics_configured=c.metrics.configured, metrics_errors=c.metrics.errors)


routes = [Route("/", overview), Route("/live", live)]
