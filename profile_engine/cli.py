"""Command line: `profile-engine generate` (synthetic shop), `import-online-retail` and
`import-taobao` (real datasets), `run` (the job), `evaluate` (offline quality) and
`export-segment` (a served segment's consenting members as a campaign file)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from profile_engine import cli_generations, cli_quality
from profile_engine.cli_settings import settings_from
from profile_engine.errors import (
    EngineError,
    GateRefused,
    RollbackRefused,
    SegmentFileError,
    SettingsError,
)
from profile_engine.settings import EngineSettings
from segment_export import ExportNotConfigured, InvalidExport

EXIT_FAILED, EXIT_SETTINGS, EXIT_GATE = 1, 2, 3


@dataclass(frozen=True)
class Exit:
    """How a command ends on an error: its exit code and what stderr says (``str.format``
    fields: ``command``, ``kind`` the error's class name, ``error`` its message)."""

    code: int
    message: str
    after_run: str = ""  # one more line when the command was `run`


FAILED = Exit(
    EXIT_FAILED,
    "profile-engine {command} failed: {kind}: {error}",
    # Nothing is flipped on failure: the pointer moves only after every item is written.
    after_run="the served generation was not changed",
)
# The error tree (profile_engine/errors.py) to exit codes, in one place: an error takes the
# row of its nearest class; an error outside the tree fails the command.
EXITS: dict[type[Exception], Exit] = {
    SettingsError: Exit(EXIT_SETTINGS, "profile-engine: bad settings: {error}"),
    SegmentFileError: Exit(
        EXIT_SETTINGS, "profile-engine: bad segment file: {error}\nnothing was read or published"
    ),
    GateRefused: Exit(EXIT_GATE, "{error}"),
    RollbackRefused: Exit(EXIT_SETTINGS, "profile-engine rollback: refused: {error}"),
    # export-segment: the shared export's tree (a wrong --format or --ses-topic, a missing
    # destination are the caller's to fix; a failed write is a failure).
    InvalidExport: Exit(EXIT_SETTINGS, "profile-engine: bad arguments: {error}"),
    ExportNotConfigured: Exit(EXIT_SETTINGS, "profile-engine: bad settings: {error}"),
    EngineError: FAILED,
    Exception: FAILED,
}


def exit_for(exc: Exception) -> Exit:
    return next(EXITS[cls] for cls in type(exc).__mro__ if cls in EXITS)


def _job_inputs(parser: argparse.ArgumentParser) -> None:
    """What the commands that read the inputs on a Dask cluster (run, evaluate) share."""
    parser.add_argument("--events", help="event root: path or s3://bucket/prefix")
    parser.add_argument("--replica-url", help="SQLAlchemy URL of the replica")
    parser.add_argument("--scheduler", help="tcp://HOST:PORT of an existing Dask scheduler")
    parser.add_argument("--workers", type=int, help="LocalCluster worker processes")
    parser.add_argument("--s3-endpoint-url", help="S3 endpoint (moto locally)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="profile-engine", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="write a synthetic shop: events + replica tables")
    gen.add_argument("--users", type=int, default=2000, help="registered customers (default 2000)")
    gen.add_argument("--products", type=int, default=500, help="catalogue size (default 500)")
    gen.add_argument("--days", type=int, default=30, help="days of clickstream (default 30)")
    gen.add_argument("--seed", type=int, default=7, help="same seed, same bytes (default 7)")
    gen.add_argument(
        "--start-date",
        type=date.fromisoformat,
        default=None,
        help="first day of the clickstream, YYYY-MM-DD (default 2026-10-01)",
    )
    gen.add_argument(
        "--events", help="event root: path or s3://bucket/prefix (PROFILE_ENGINE_EVENTS)"
    )
    gen.add_argument(
        "--replica-url", help="SQLAlchemy URL for the tables (PROFILE_ENGINE_REPLICA_URL)"
    )
    gen.add_argument(
        "--s3-endpoint-url", help="S3 endpoint, e.g. moto (PROFILE_ENGINE_S3_ENDPOINT_URL)"
    )

    run = sub.add_parser("run", help="compute profiles and publish a generation to DynamoDB")
    _job_inputs(run)
    run.add_argument("--table", help="DynamoDB table")
    run.add_argument("--dynamodb-endpoint-url", help="DynamoDB endpoint (moto locally)")
    run.add_argument("--quarantine", help="where rejected event lines are written")
    run.add_argument("--membership-url", help="where segment members go (s3:// or a directory)")
    run.add_argument("--as-of", help="reference time, ISO-8601 (default: the newest event)")
    run.add_argument(
        "--segments", help="TOML file of segment definitions (default: the built-in one)"
    )
    run.add_argument(
        "--force", action="store_true", help="publish even when the quality gate says no"
    )
    run.add_argument(
        "--retune", action="store_true",
        help="run the model choice's trials now, whatever PROFILE_ENGINE_TUNING_EVERY_DAYS says",
    )
    run.add_argument(
        "-v", "--verbose", action="store_true", help="log progress (stages, publish) to stderr"
    )
    run.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        help="cluster, dashboard and one line per stage on stderr (default: when a terminal)",
    )
    run.add_argument("--json", help="also write the run report as JSON here")

    for name, what in (
        ("import-online-retail", "UCI Online Retail CSV (.csv or .csv.gz)"),
        ("import-taobao", "Taobao UserBehavior CSV"),
    ):
        imp = sub.add_parser(name, help=f"turn the {what} into events + replica tables")
        imp.add_argument("path", help=f"the {what}")
        imp.add_argument("--events", help="event root to write (PROFILE_ENGINE_EVENTS)")
        imp.add_argument("--replica-url", help="SQLAlchemy URL to write the tables to")
        imp.add_argument("--s3-endpoint-url", help="S3 endpoint (moto locally)")

    ev = sub.add_parser(
        "evaluate", help="EVALUATION.md protocol: the served ranker against the baselines"
    )
    _job_inputs(ev)
    ev.add_argument("--json", help="write the table as JSON here")
    ev.add_argument("--html", help="write a report with a bar chart per metric here")
    ev.add_argument(
        "--no-tune", action="store_true", help="baselines at the reference settings (faster)"
    )
    ev.add_argument(
        "--tuning-budget",
        type=float,
        help="seconds the model choice may take (PROFILE_ENGINE_TUNING_BUDGET_S)",
    )
    summ = sub.add_parser(
        "evaluate-summary", help="several evaluate --json files side by side, one row a dataset"
    )
    summ.add_argument("json", nargs="+", help="files written by evaluate --json")
    summ.add_argument("--html", help="write the table as a page linking each dataset's report")

    exp = sub.add_parser(
        "export-segment",
        help="write a segment of the served generation (consenting members) to a file",
    )
    exp.add_argument("name", help="segment name, e.g. high_value or affinity:shoes")
    exp.add_argument(
        "--format",
        required=True,
        help="pinpoint-csv, pinpoint-jsonl, ses-csv, ses-jsonl, csv or parquet",
    )
    exp.add_argument(
        "--to", required=True, help="s3://bucket/prefix or a local directory to write under"
    )
    exp.add_argument("--ses-topic", default="", help="ses-*: topic the members are opted in to")
    exp.add_argument("--recommendations", type=int,
                     help="recommended products per member (default 4; 0: none)")
    exp.add_argument("--table", help="DynamoDB table")
    exp.add_argument("--dynamodb-endpoint-url", help="DynamoDB endpoint (moto locally)")
    exp.add_argument("--s3-endpoint-url", help="S3 endpoint (moto locally)")

    gens = sub.add_parser("generations", help="the served generation's history, newest first")
    back = sub.add_parser("rollback", help="serve an earlier, still complete generation again")
    back.add_argument("--to", help="the generation (default: the newest one that can be served)")
    for p in (gens, back):
        p.add_argument("--table", help="DynamoDB table")
        p.add_argument("--dynamodb-endpoint-url", help="DynamoDB endpoint (moto locally)")
    return parser


def _export_segment(args: argparse.Namespace) -> int:
    """The shared segment export (what the ExportSegment RPC runs), reading the served
    generation from the table directly: no service needed."""
    import asyncio

    from segment_export import ExportQuery

    settings = settings_from(
        {
            "table": args.table,
            "dynamodb_endpoint_url": args.dynamodb_endpoint_url,
            "s3_endpoint_url": args.s3_endpoint_url,
            "export_recommendations": args.recommendations,
        }
    )
    query = ExportQuery.checked(args.name, args.format, ses_topic=args.ses_topic)
    started = time.perf_counter()
    done = asyncio.run(_export(settings, query, args.to))
    r = done.result
    print(f"file     {r.uri}")
    print(f"members  {r.members:,} (skipped {r.skipped:,}: no consent or no email)")
    print(f"bytes    {r.bytes:,}")
    print(f"gen      {r.generation}")
    print(f"seconds  {time.perf_counter() - started:.1f}")
    return 0


async def _export(settings: EngineSettings, query: Any, destination: str) -> Any:
    from profile_engine.publish import dynamodb_client
    from profile_engine.served import ServedTable
    from profile_engine.served_lists import TableLists
    from segment_export import ExportTarget, SegmentExporter

    client = dynamodb_client(settings.aws_region, settings.dynamodb_endpoint_url)
    table = ServedTable(client, settings.table)
    target = ExportTarget(
        destination=destination,
        aws_region=settings.aws_region,
        s3_endpoint_url=settings.s3_endpoint_url,
        recommendations=settings.export_recommendations,
        names={"destination": "--to"},
    )
    exporter = SegmentExporter(table, target,
                               recommendations=TableLists(client, settings.table))
    try:
        return await exporter.export(query)
    finally:
        await exporter.aclose()


def _writer_settings(args: argparse.Namespace) -> EngineSettings:
    """Settings of the commands that write inputs (generate, import-*)."""
    return settings_from(
        {
            "events": args.events,
            "replica_url": args.replica_url,
            "s3_endpoint_url": args.s3_endpoint_url,
        }
    )


def _generate(args: argparse.Namespace) -> int:
    from profile_engine import synthetic
    from profile_engine.sources.files import storage_options

    settings = _writer_settings(args)
    started = time.perf_counter()
    shop = synthetic.generate(
        args.users, args.products, args.days, args.seed, args.start_date or synthetic.DEFAULT_START
    )
    files = synthetic.write_events(
        shop.events, settings.events, storage_options(settings.events, settings.s3_endpoint_url)
    )
    tables = synthetic.write_tables(shop, settings.replica_url)
    print(f"events   {len(shop.events):,} in {files} files under {settings.events}")
    print(
        "tables   "
        + ", ".join(f"{k} {v:,}" for k, v in tables.items())
        + f" at {_redact(settings.replica_url)}"
    )
    print(f"seconds  {time.perf_counter() - started:.1f}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from profile_engine import pipeline  # imports distributed, which sets its loggers to INFO

    # Cluster start/stop chatter at INFO adds nothing to the run report.
    logging.getLogger("distributed").setLevel(logging.WARNING)
    if args.verbose:
        logging.getLogger("profile_engine").setLevel(logging.INFO)
    settings = settings_from(
        {
            "events": args.events,
            "replica_url": args.replica_url,
            "scheduler": args.scheduler,
            "workers": args.workers,
            "table": args.table,
            "dynamodb_endpoint_url": args.dynamodb_endpoint_url,
            "s3_endpoint_url": args.s3_endpoint_url,
            "quarantine": args.quarantine,
            "membership_url": args.membership_url,
            "as_of": args.as_of,
            "segments": args.segments,
            "progress": args.progress,
            "tuning_every_days": 0 if args.retune else None,
        }
    )
    report = pipeline.run(settings, force=args.force)
    print(report.format())
    if args.json:
        Path(args.json).write_text(json.dumps(report.as_json(), indent=2) + "\n")
    if report.generation is None and report.gate:
        raise GateRefused("the quality gate stopped the run: the served generation was not changed")
    return 0


def _import(args: argparse.Namespace) -> int:
    from profile_engine import importers
    from profile_engine.sources.files import storage_options

    settings = _writer_settings(args)
    started = time.perf_counter()
    adapter = (
        importers.import_online_retail
        if args.command == "import-online-retail"
        else importers.import_taobao
    )
    done = adapter(
        args.path,
        settings.events,
        settings.replica_url,
        storage_options(settings.events, settings.s3_endpoint_url),
    )
    print(f"events   {done.events:,} in {done.event_files} files under {settings.events}")
    print(
        "tables   "
        + ", ".join(f"{k} {v:,}" for k, v in done.tables.items())
        + f" at {_redact(settings.replica_url)}"
    )
    print(f"seconds  {time.perf_counter() - started:.1f}")
    return 0


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<replica>"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        commands = {
            "generate": _generate,
            "run": _run,
            "evaluate": cli_quality.evaluate,
            "evaluate-summary": cli_quality.summary,
            "import-online-retail": _import,
            "import-taobao": _import,
            "export-segment": _export_segment,
            "generations": cli_generations.generations,
            "rollback": cli_generations.rollback,
        }
        return commands[args.command](args)
    except Exception as exc:
        end = exit_for(exc)
        print(
            end.message.format(command=args.command, kind=type(exc).__name__, error=exc),
            file=sys.stderr,
        )
        if end.after_run and args.command == "run":
            print(end.after_run, file=sys.stderr)
        return end.code
