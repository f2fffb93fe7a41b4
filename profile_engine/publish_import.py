"""Publish a generation by DynamoDB import from S3: files, one ImportTable, the flip.

The items (the very items the writes path puts) are staged as DynamoDB-JSON gzip files
under ``<staging>/<generation>/`` (by every worker, ``publish_workers``, or here); one
ImportTable creates the generation's own table from them (``generation_tables`` names
it); once the import is COMPLETED with every item imported and none in error, the table
gets its TTL, the manifest (naming the table) goes to the fixed table and the pointer
flips there with the same conditional write as the writes path. Then the tables of
generations out of the rollback window go (``retention``).

Anything short of that (ImportTable refused, the import FAILED or CANCELLED, a count that
does not match what was staged, no answer within the timeout) raises PublishError: the
pointer is untouched, the half-made table is deleted (when DynamoDB lets us: a table still
being created stays until the next run's sweep), the files stay for a look.

moto (the tests) imports in a thread of its own, like the real service asynchronously;
it differs in ways handled here for the real API: it ignores ClientToken, reports a table
that exists already as a FAILED import (DynamoDB refuses the call), calls an import with a
bad item FAILED (DynamoDB completes it with ErrorCount > 0), and keeps the table of a
failed import (we delete it either way).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from generation import GenerationData, Manifest, NeighbourFacts, details, layout
from profile_engine import generation_tables, import_files, retention
from profile_engine.errors import PublishError
from profile_engine.import_files import Staged, Staging
from profile_engine.publish import PublishReport, current_generation, expiry, finish

log = logging.getLogger(__name__)

# describe_import polls every tenth of the time waited so far, within these bounds: the
# completion is seen at most ~10% late, whether the import takes a second (moto) or an
# hour (DynamoDB), with a few dozen polls.
POLL_FIRST_S = 0.05
POLL_CAP_S = 15.0


@dataclass
class ImportFigures:
    """What an import published, for the run report and the benchmark."""

    table: str
    items: int = 0
    files: int = 0
    json_bytes: int = 0  # what the import is billed for (uncompressed)
    gzip_bytes: int = 0
    staging_s: float = 0.0  # first file started -> last file written
    import_s: float = 0.0  # ImportTable -> COMPLETED
    first_file_to_flip_s: float = 0.0
    deleted_tables: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: (round(v, 2) if isinstance(v, float) else v) for k, v in vars(self).items()}


def staging(url: str, generation: str, region: str, endpoint_url: str | None) -> Staging:
    return import_files.staging_for(url, generation, region, endpoint_url)


def _wait(client: Any, arn: str, timeout_s: float, sleep: Callable[[float], None]) -> Any:
    """The import's description once it is no longer IN_PROGRESS; PublishError past
    ``timeout_s``."""
    started = time.monotonic()
    deadline = started + timeout_s
    while True:
        done = client.describe_import(ImportArn=arn)["ImportTableDescription"]
        if done["ImportStatus"] not in ("IN_PROGRESS", "CANCELLING"):
            return done
        left = deadline - time.monotonic()
        if left <= 0:
            raise PublishError(f"the import {arn} did not complete within {timeout_s:g} s "
                               f"(status {done['ImportStatus']})")
        pause = min(POLL_CAP_S, max(POLL_FIRST_S, (time.monotonic() - started) / 10))
        sleep(min(left, pause))


def import_table(client: Any, where: Staging, table: str, expected_items: int,
                 timeout_s: float, sleep: Callable[[float], None] = time.sleep) -> Any:
    """Create ``table`` from the files at ``where`` and wait for it; PublishError unless
    every one of ``expected_items`` was imported, none in error, and the table is ACTIVE
    with its TTL on."""
    try:
        started = client.import_table(
            # The same token for a retried call: DynamoDB starts the import once.
            ClientToken=table[-36:],
            S3BucketSource={"S3Bucket": where.bucket, "S3KeyPrefix": where.prefix},
            InputFormat="DYNAMODB_JSON",
            InputCompressionType="GZIP",
            TableCreationParameters=layout.table_definition(table),
        )["ImportTableDescription"]
    except Exception as exc:
        raise PublishError(f"ImportTable of {where.url} into {table} was refused: {exc}") from exc
    done = _wait(client, started["ImportArn"], timeout_s, sleep)
    status = done["ImportStatus"]
    imported, errors = done.get("ImportedItemCount", 0), done.get("ErrorCount", 0)
    if status != "COMPLETED":
        reason = done.get("FailureMessage") or done.get("FailureCode") or "no reason given"
        raise PublishError(f"the import into {table} ended {status}: {reason}")
    if errors or imported != expected_items:
        raise PublishError(
            f"the import into {table} imported {imported:,} items with {errors:,} errors; "
            f"{expected_items:,} were staged (the import's CloudWatch log says which)"
        )
    client.get_waiter("table_exists").wait(
        TableName=table, WaiterConfig={"Delay": 2, "MaxAttempts": 300})
    # ImportTable takes no TTL: it is turned on once the table is ACTIVE.
    client.update_time_to_live(TableName=table, TimeToLiveSpecification={
        "Enabled": True, "AttributeName": layout.TTL_ATTRIBUTE})
    return done


def discard_table(client: Any, table: str) -> None:
    """Best effort after a failure: the served generation is untouched either way."""
    try:
        generation_tables.delete(client, table)
    except Exception:
        log.warning("could not delete the half-made table %s; the next run's sweep will",
                    table, exc_info=True)


def complete(
    dynamodb: Any, s3: Any, fixed_table: str, manifest: Manifest, expires_at: int,
    report: PublishReport, where: Staging, table: str, staged: int, timeout_s: float,
    table_prefix: str,
) -> ImportFigures:
    """Import what was staged (``staged`` items) into ``table``, then write the manifest,
    flip the pointer and sweep old tables. PublishError leaves the pointer as it was."""
    figures = ImportFigures(table=table, items=staged)
    started = time.perf_counter()
    try:
        import_table(dynamodb, where, table, staged, timeout_s)
        figures.import_s = time.perf_counter() - started
        finish(dynamodb, fixed_table, manifest, expires_at, report, data_table=table)
    except Exception as exc:
        discard_table(dynamodb, table)
        log.error("import of generation %s failed; its files stay at %s", manifest.generation,
                  where.url)
        if isinstance(exc, PublishError):
            raise
        raise PublishError(f"publishing generation {manifest.generation} by import failed: "
                           f"{exc}") from exc
    try:  # served already: cleaning up must not fail the run
        import_files.delete_files(s3, where)
        figures.deleted_tables = retention.sweep(dynamodb, fixed_table, table_prefix)
    except Exception:
        log.warning("generation %s is served; cleaning up files or old tables failed",
                    manifest.generation, exc_info=True)
    return figures


def add_staged(figures: ImportFigures, staged: Iterable[Staged]) -> None:
    for s in staged:
        figures.files += s.files
        figures.json_bytes += s.json_bytes
        figures.gzip_bytes += s.gzip_bytes


def publish_by_import(
    dynamodb: Any, s3: Any, fixed_table: str, data: GenerationData, *, ttl_days: float,
    staging_url: str, region: str, s3_endpoint_url: str | None, table_prefix: str,
    timeout_s: float,
) -> tuple[PublishReport, ImportFigures]:
    """``publish.publish`` by import, every file written here (no cluster): the driver's
    path, and the one the tests and the benchmark drive directly."""
    gen = data.manifest.generation
    report = PublishReport(generation=gen, previous_generation=current_generation(
        dynamodb, fixed_table))
    expires_at = expiry(ttl_days)
    where = staging(staging_url, gen, region, s3_endpoint_url)
    facts = NeighbourFacts(data.neighbours) if data.catalogue is None else None
    first = time.perf_counter()
    staged = import_files.stage(s3, where, "driver-00000", [
        ("profiles", (layout.profile_item(gen, p, expires_at) for p in data.profiles)),
        ("neighbours", (layout.neighbours_item(gen, n, expires_at)
                        for n in (facts or data.neighbours))),
        ("popular", (layout.popular_item(gen, p, expires_at) for p in data.popular)),
        ("segment_members", (layout.segment_member_item(gen, s, m, expires_at)
                             for s, m in data.segment_members)),
    ])
    # The catalogue last: without one, its facts are those the neighbours carried.
    manifest, buckets = details.with_details_count(data.manifest, data.details)
    catalogue = import_files.stage(s3, where, "driver-00001", [
        ("catalogue", layout.catalogue_items(
            gen, data.catalogue or facts.collected(), expires_at)),  # type: ignore[union-attr]
        *([("details", details.details_items(gen, data.details, buckets, expires_at))]
          if data.details is not None else []),
    ])
    staging_s = time.perf_counter() - first
    report.items = {**staged.items, **catalogue.items}
    table = generation_tables.table_name(table_prefix, gen)
    figures = complete(dynamodb, s3, fixed_table, manifest, expires_at, report, where,
                       table, sum(report.items.values()), timeout_s, table_prefix)
    add_staged(figures, (staged, catalogue))
    figures.staging_s = staging_s
    figures.first_file_to_flip_s = time.perf_counter() - first
    report.seconds = figures.first_file_to_flip_s
    return report, figures
