"""`profile-engine generations` (the served generation's history) and `profile-engine
rollback` (serve an earlier one again), on the table directly: no service needed."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from profile_engine import generations as gens
from profile_engine.cli_settings import settings_from


def _client(args: argparse.Namespace) -> tuple[Any, str]:
    from profile_engine.publish import dynamodb_client

    settings = settings_from(
        {"table": args.table, "dynamodb_endpoint_url": args.dynamodb_endpoint_url}
    )
    return dynamodb_client(settings.aws_region, settings.dynamodb_endpoint_url), settings.table


def generations(args: argparse.Namespace) -> int:
    client, table = _client(args)
    rows = []
    for g in gens.list_generations(client, table):
        m = g.manifest
        ndcg = m.metrics.get("ndcg@10") if m else None
        expires = (
            datetime.fromtimestamp(g.expires_at, UTC).strftime("%Y-%m-%d %H:%M")
            if g.expires_at else "-"
        )
        rows.append((
            ("* " if g.served else "  ") + g.generation,
            g.action or "-",
            g.at or "-",
            f"{m.counts.get('users', 0):,}" if m else "-",
            f"{ndcg:.4f}" if ndcg is not None else "-",
            (m.model.served if m and m.model else "-"),
            str(m.format_version) if m else "-",
            expires,
            "yes" if not g.why_not else f"no: {g.why_not}",
        ))
    head = ("generation", "last change", "at", "users", "ndcg@10", "model", "format",
            "expires (UTC)", "can serve")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    for r in (head, *rows):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    print(f"{len(rows)} generations (* = served) in {table}")
    return 0


def rollback(args: argparse.Namespace) -> int:
    client, table = _client(args)
    entry = gens.rollback(client, table, args.to)
    print(f"rolled back {table}: serving {entry.generation} (was {entry.previous})")
    print("services follow the pointer within their refresh period")
    return 0
