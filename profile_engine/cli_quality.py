"""The offline-quality commands: `evaluate` (EVALUATION.md on the engine's own inputs) and
`evaluate-summary` (several datasets side by side)."""

from __future__ import annotations

import argparse
import logging
import time

from profile_engine.cli_settings import settings_from


def evaluate(args: argparse.Namespace) -> int:
    """`profile-engine evaluate`: the model choice and every model on the test split."""
    from profile_engine import cluster
    from profile_engine.evaluation import data, report
    from profile_engine.tuning.evaluate import evaluate as evaluate_all

    logging.getLogger("distributed").setLevel(logging.WARNING)
    settings = settings_from(
        {
            "events": args.events,
            "replica_url": args.replica_url,
            "scheduler": args.scheduler,
            "workers": args.workers,
            "s3_endpoint_url": args.s3_endpoint_url,
            "tuning_budget_s": args.tuning_budget,
        }
    )
    started = time.perf_counter()
    with cluster.open_client(settings) as client:
        loaded = data.load(settings, client)
        read_s = time.perf_counter() - started
        result = evaluate_all(
            loaded.interactions,
            settings.ranker_params(),
            tune_baselines=not args.no_tune,
            client=client,
            categories=loaded.catalog.category_codes,
            budget_s=settings.tuning_budget_s,
        )
    print(report.table(result))
    print(f"seconds  read {read_s:.1f}, evaluate {time.perf_counter() - started - read_s:.1f}")
    if args.json:
        report.write_json(result, args.json)
        print(f"json     {args.json}")
    if args.html:
        report.write_html(result, args.html)
        print(f"html     {args.html}")
    return 0


def summary(args: argparse.Namespace) -> int:
    """`profile-engine evaluate-summary`: one row a dataset."""
    from profile_engine.evaluation import summary

    print(summary.table(args.json))
    if args.html:
        summary.write_html(args.json, args.html)
        print(f"html     {args.html}")
    return 0
