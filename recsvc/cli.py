"""The ``recsvc`` command: run the server, or call a running one and print tables."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import ValidationError

from recsvc import cli_shopper
from recsvc.settings import Settings
from recsvc.tables import served_model, table

__all__ = ["main"]

def _settings(**overrides: object) -> Settings:
    """Settings from RECSVC_*; on a bad value: name the variable and the value, exit 2."""
    try:
        return Settings.from_env(**overrides)
    except ValidationError as exc:
        for err in exc.errors():
            name = f"RECSVC_{str(err['loc'][0]).upper()}" if err["loc"] else "RECSVC_*"
            print(f"recsvc: invalid {name}={err.get('input')!r}: {err['msg']}", file=sys.stderr)
        raise SystemExit(2) from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="recsvc", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the gRPC server (settings from RECSVC_*)")
    serve.add_argument("--host", help="bind address (RECSVC_HOST)")
    serve.add_argument("--port", type=int, help="port, 0 = any free one (RECSVC_PORT)")

    console = sub.add_parser(
        "console", help="run the web console (settings from RECSVC_CONSOLE_*)")
    console.add_argument("--host", help="bind address (RECSVC_CONSOLE_HOST)")
    console.add_argument("--port", type=int, help="port, 0 = any free one (RECSVC_CONSOLE_PORT)")

    def client(name: str, help_: str) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=help_)
        c.add_argument("--target", help="HOST:PORT of the server (default 127.0.0.1:RECSVC_PORT)")
        c.add_argument("--timeout", type=float, default=5.0, help="deadline in seconds")
        return c

    cli_shopper.add_parsers(client)

    client("info", "the generation being served")
    client("health", "grpc.health.v1 status of the server; exit 0 only when SERVING "
           "(for container health checks)")

    for name, help_ in (("segments", "list segments"), ("segment", "stream one segment")):
        c = client(name, help_)
        c.add_argument("--token", help="bearer token (default: first of RECSVC_SEGMENT_TOKENS)")
        if name == "segment":
            c.add_argument("name")
            c.add_argument("--limit", type=int, default=0, help="stop after N members")
            c.add_argument("--page-size", type=int, default=0, help="members per store page")

    show = sub.add_parser(
        "show",
        help="print a stored item of a generation as JSON, read from the store "
        "(RECSVC_STORE, RECSVC_TABLE, ...): pointer, manifest, profile USER, neighbours "
        "PRODUCT, facts PRODUCT, popular [CATEGORY], segment NAME",
    )
    show.add_argument("kind", choices=_show_kinds())
    show.add_argument("id", nargs="?", default="", help="user, product, category or segment")
    show.add_argument("--generation", default="", help="default: the one served now")
    show.add_argument("--limit", type=int, default=20, help="segment: members to show")

    exp = sub.add_parser(
        "export",
        help="write a segment's consenting members to the server's RECSVC_EXPORT_URI "
        "(optionally start a Pinpoint/SES import job)",
    )
    exp.add_argument("name", help="segment name")
    exp.add_argument("--format", required=True, help=f"one of {', '.join(_formats())}")
    exp.add_argument(
        "--start-import", action="store_true",
        help="start the Pinpoint (pinpoint-*) or SES (ses-*) import job of the file",
    )
    exp.add_argument("--ses-topic", default="", help="SES topic the members are opted in to")
    exp.add_argument("--token", help="bearer token (default: first of RECSVC_SEGMENT_TOKENS)")
    exp.add_argument("--target", help="HOST:PORT of the server (default 127.0.0.1:RECSVC_PORT)")
    exp.add_argument("--timeout", type=float, default=300.0, help="deadline in seconds")
    return p


def _console(args: argparse.Namespace) -> int:
    """The console has its own settings object (RECSVC_CONSOLE_*) and web stack (the
    ``console`` extra), loaded only here."""
    from recsvc.console.serve import main as console_main
    from recsvc.console.settings import ConsoleSettings

    try:
        settings = ConsoleSettings.from_env(host=args.host, port=args.port)
    except ValidationError as exc:
        for err in exc.errors():
            name = f"RECSVC_CONSOLE_{str(err['loc'][0]).upper()}" if err["loc"] else "*"
            print(f"recsvc console: invalid {name}: {err['msg']}", file=sys.stderr)
        return 2
    console_main(settings)
    return 0


def _show_kinds() -> tuple[str, ...]:
    from recsvc.show import KINDS

    return tuple(KINDS)


def _show(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from recsvc.errors import RecsvcError
    from recsvc.show import KINDS, compact_json, show

    if KINDS[args.kind] and not args.id:
        print(f"recsvc: show {args.kind} needs an id", file=sys.stderr)
        return 2
    try:
        found = asyncio.run(show(settings, args.kind, args.id, args.generation, args.limit))
    except RecsvcError as exc:
        print(f"recsvc: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(compact_json(found))
    return 0


def _formats() -> tuple[str, ...]:
    from segment_export import FORMATS

    return tuple(FORMATS)


def _call(args: argparse.Namespace, settings: Settings, fn: Callable[[Any], str]) -> int:
    import grpc

    target = args.target or f"127.0.0.1:{settings.port or 50051}"
    with grpc.insecure_channel(target) as channel:
        try:
            print(fn(channel))
        except grpc.RpcError as exc:
            print(f"recsvc: {exc.code().name}: {exc.details()}", file=sys.stderr)
            return 1
    return 0


def _health(args: argparse.Namespace, settings: Settings) -> int:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    status = "UNREACHABLE"

    def check(channel: Any) -> str:
        nonlocal status
        stub: Any = health_pb2_grpc.HealthStub(channel)  # the stubs' HealthStub lacks Check
        r = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=args.timeout)
        status = health_pb2.HealthCheckResponse.ServingStatus.Name(r.status)
        return status

    code = _call(args, settings, check)
    return 0 if code == 0 and status == "SERVING" else 1


def _auth(args: argparse.Namespace, settings: Settings) -> list[tuple[str, str]]:
    token = args.token or next(iter(settings.segment_token_list), "")
    return [("authorization", f"Bearer {token}")] if token else []


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        settings = _settings(host=args.host, port=args.port)
        from recsvc.server.app import main as serve_main

        serve_main(settings)
        return 0
    if args.command == "console":
        return _console(args)
    settings = _settings()
    from recsvc.api.v1 import recommender_pb2 as rpb
    from recsvc.api.v1 import recommender_pb2_grpc as rpb_grpc
    from recsvc.api.v1 import segments_pb2 as spb
    from recsvc.api.v1 import segments_pb2_grpc as spb_grpc

    def info(channel: Any) -> str:
        r = rpb_grpc.RecommenderStub(channel).Info(rpb.InfoRequest(), timeout=args.timeout)
        rows = [*((k, v) for k, v in sorted(r.counts.items())),
                *((k, f"{v:.4f}") for k, v in sorted(r.metrics.items()))]
        text = f"generation {r.generation}, published {r.published_at}\n" + table(
            ("name", "value"), rows
        )
        if r.HasField("model"):
            text += "\n" + served_model(r.model)
        return text

    def segments(channel: Any) -> str:
        r = spb_grpc.SegmentsStub(channel).ListSegments(
            spb.ListSegmentsRequest(), timeout=args.timeout, metadata=_auth(args, settings)
        )
        rows = [(s.name, s.size, s.description) for s in r.segments]
        return f"generation {r.generation}\n{table(('segment', 'size', 'description'), rows)}"

    def segment(channel: Any) -> str:
        request = spb.SegmentRequest(name=args.name, limit=args.limit, page_size=args.page_size)
        stream = spb_grpc.SegmentsStub(channel).Segment(
            request, timeout=args.timeout, metadata=_auth(args, settings)
        )
        rows = [
            (m.user_id, m.email or "-", "yes" if m.marketing_opt_in else "no",
             " ".join(f"{k}={v}" for k, v in sorted(m.attributes.items())))
            for m in stream
        ]
        return f"{len(rows)} members\n{table(('user', 'email', 'opt-in', 'attributes'), rows)}"

    def export(channel: Any) -> str:
        request = spb.ExportSegmentRequest(
            name=args.name,
            format=args.format,
            start_import=args.start_import,
            ses_topic=args.ses_topic,
        )
        r = spb_grpc.SegmentsStub(channel).ExportSegment(
            request, timeout=args.timeout, metadata=_auth(args, settings)
        )
        rows = [
            ("uri", r.uri),
            ("generation", r.generation),
            ("members", r.members),
            ("skipped", r.skipped),
            ("bytes", r.bytes),
            ("import job", r.import_job_id or "-"),
        ]
        return table(("name", "value"), rows)

    if args.command == "health":
        return _health(args, settings)
    if args.command == "show":
        return _show(args, settings)
    commands = {
        **cli_shopper.calls(args),
        "info": info,
        "segments": segments,
        "segment": segment,
        "export": export,
    }
    return _call(args, settings, commands[args.command])


if __name__ == "__main__":
    raise SystemExit(main())
