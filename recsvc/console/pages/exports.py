"""Exports: start an export of a segment (any format; the import job where configured)
and the history of exports, newest first."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from recsvc.console.pages.common import checked_form, console, render, require
from segment_export import FORMATS, ExportQuery, InvalidExport, import_kind

__all__ = ["routes"]

HISTORY = 50


async def _page(request: Request, status_code: int = 200, error: str = "",
                chosen: dict[str, str] | None = None) -> Response:
    c = console(request)
    served = await c.reader.served()
    history = await c.records.exports(HISTORY)
    imports = c.exports.imports
    return render(
        request, "exports.html", status_code=status_code, error=error,
        segments=sorted(s.name for s in served.manifest.segments),
        formats=FORMATS, imports=imports,
        import_formats=[f for f in FORMATS if import_kind(f) in imports],
        configured=bool(c.exports.target.destination),
        history=history, running=any(r.status == "running" for r in history),
        chosen=chosen or {}, pointer=served.pointer,
    )


async def exports_page(request: Request) -> Response:
    require(request, "marketer")
    chosen = {"segment": request.query_params.get("segment", "")}
    return await _page(request, chosen=chosen)


async def history(request: Request) -> Response:
    require(request, "marketer")
    records = await console(request).records.exports(HISTORY)
    return render(request, "export_history.html", history=records,
                  running=any(r.status == "running" for r in records))


async def start_export(request: Request) -> Response:
    user, form = await checked_form(request, "marketer")
    c = console(request)
    chosen = {k: str(form.get(k, "")) for k in ("segment", "format", "ses_topic")}
    if not c.exports.target.destination:
        return await _page(request, 409, "Exports are not configured: set "
                           "RECSVC_CONSOLE_EXPORT_URI.", chosen)
    try:
        query = ExportQuery.checked(chosen["segment"], chosen["format"],
                                    start_import=form.get("start_import") == "on",
                                    ses_topic=chosen["ses_topic"].strip())
    except InvalidExport as exc:
        return await _page(request, 400, f"{exc.field}: {exc.reason}", chosen)
    served = await c.reader.served()
    if query.name not in {s.name for s in served.manifest.segments}:
        return await _page(request, 400, "segment: not a segment of the served generation",
                           chosen)
    if query.start_import and import_kind(query.format) not in c.exports.imports:
        return await _page(request, 400, f"start_import: no {import_kind(query.format) or ''}"
                           " import job is configured for this format", chosen)
    await c.exports.start(user.name, query)
    return RedirectResponse("/exports", status_code=303)


routes = [
    Route("/exports", exports_page, methods=["GET"]),
    Route("/exports", start_export, methods=["POST"]),
    Route("/exports/history", history),
]
