"""Lookup (admin only): one shopper's profile, segments and current recommendations, for
support. Every lookup is written to the audit log before anything is read for it."""

from __future__ import annotations

import hashlib
import logging

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from recsvc.console.pages.common import checked_form, console, render, require
from recsvc.errors import Unavailable

__all__ = ["routes"]

log = logging.getLogger("recsvc.console.audit")

MAX_USER_ID = 128
AUDIT_SHOWN = 20


async def lookup_page(request: Request) -> Response:
    require(request, "admin")
    audits = await console(request).records.audits(AUDIT_SHOWN)
    return render(request, "lookup.html", audits=audits, result=None, user_id="")


async def lookup(request: Request) -> Response:
    user, form = await checked_form(request, "admin")
    c = console(request)
    user_id = str(form.get("user_id", "")).strip()
    if not user_id or len(user_id) > MAX_USER_ID:
        audits = await c.records.audits(AUDIT_SHOWN)
        return render(request, "lookup.html", status_code=400, audits=audits, result=None,
                      user_id="", error=f"user id: 1 to {MAX_USER_ID} characters")
    record = await c.records.audit(user.name, user_id)
    # The log line names the lookup and who made it; the user id only as a digest (logs
    # carry no personal data; the audit item holds the id).
    log.info("lookup", extra={"fields": {
        "lookup": record.id, "who": user.name,
        "user_digest": hashlib.sha256(user_id.encode()).hexdigest()[:16]}})
    served = await c.reader.served()
    profile = await c.reader.profile(served.pointer.generation, user_id)
    recommendations, service_error = None, ""
    try:
        recommendations = await c.recommender.recommend(user_id)
    except Unavailable as exc:
        service_error = str(exc)
    audits = await c.records.audits(AUDIT_SHOWN)
    return render(request, "lookup.html", audits=audits, user_id=user_id, result=True,
                  profile=profile, pointer=served.pointer, recommendations=recommendations,
                  service_error=service_error)


routes = [
    Route("/lookup", lookup_page, methods=["GET"]),
    Route("/lookup", lookup, methods=["POST"]),
]
