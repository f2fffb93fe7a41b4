"""Benchmark: publishing a generation to DynamoDB (moto server on loopback).

Prints items/s for `profile_engine.publish.write_items` (BatchWriteItem x25) and, in the
same run, for one PutItem per item (the baseline), and their ratio; then the way the job
publishes from its workers: one and two writer processes, each with ``--in-flight``
requests in flight, with the writers' own CPU time per item; and the import path
(``profile_engine.publish_import``): the same items staged as DynamoDB-JSON gzip files in
S3, one ImportTable into a new table, the counts checked, the pointer flipped, timed from
the first file to the flip, with the JSON bytes an import is billed for. moto is far
slower than DynamoDB per request (and one process for all writers) and imports in one
thread where DynamoDB takes minutes whatever the size, so read the ratios, the CPU and the
bytes per item, not the absolute figures.

    .venv/bin/python bench/publish.py [--items 5000] [--in-flight 4] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/publish.py` from a checkout
    sys.path.insert(0, str(ROOT))

from generation import GenerationData, Manifest, Profile, ScoredItem, layout  # noqa: E402
from loopback.aws import moto_server  # noqa: E402
from profile_engine import import_files  # noqa: E402
from profile_engine import publish as pub  # noqa: E402
from profile_engine.publish_import import publish_by_import  # noqa: E402


def profiles(n: int) -> list[Profile]:
    """n profiles of 50 recommendations each (~2.5 KB, as the job's are), each user's own
    products and scores, so the import files compress as real ones do."""
    return [
        Profile(f"u{i}", tuple(
            ScoredItem(f"p{(i * 7919 + j * 104729) % 40000}", round(1.0 / (j + 1 + i % 7), 4),
                       f"because you viewed p{(i * 31 + j) % 40000}") for j in range(50)
        ), purchased=(f"p{i % 40000}", f"p{(i * 3) % 40000}"))
        for i in range(n)
    ]


def items(gen: str, n: int) -> list[layout.Item]:
    return [layout.profile_item(gen, p) for p in profiles(n)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--in-flight", type=int, default=4)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    with moto_server() as endpoint:
        client = pub.dynamodb_client("us-east-1", endpoint)
        client.create_table(**layout.table_definition("bench"))
        results = {}

        batch = items("batched", args.items)
        started = time.perf_counter()
        pub.write_items(client, "bench", batch, pub.PublishReport("batched"))
        results["batch_write_25"] = time.perf_counter() - started

        single = items("single", args.items)
        started = time.perf_counter()
        for item in single:
            client.put_item(TableName="bench", Item=item)
        results["put_item_each"] = time.perf_counter() - started

        cpu: dict[str, float] = {}
        for writers in (1, 2):
            name = f"workers_{writers}x{args.in_flight}"
            results[name], cpu[name] = _writers(endpoint, writers, args.in_flight, args.items)

        imported = _import(endpoint, args.items)
        results["import_from_s3"] = imported["first_file_to_flip_s"]

    base = results["put_item_each"]
    rows = [
        {
            "name": name,
            "seconds": round(s, 3),
            "items_per_s": round(args.items / s),
            "ratio_vs_put_item": round(base / s, 2),
            "client_cpu_us_per_item": round(1e6 * cpu[name] / args.items, 1) if name in cpu
            else None,
        }
        for name, s in results.items()
    ]
    print(f"{'method':<18} {'seconds':>8} {'items/s':>9} {'x PutItem':>10} {'client CPU/item':>16}")
    for r in rows:
        per = f"{r['client_cpu_us_per_item']:.0f} us" if r["client_cpu_us_per_item"] else "-"
        print(
            f"{r['name']:<18} {r['seconds']:>8.2f} {r['items_per_s']:>9} "
            f"{r['ratio_vs_put_item']:>10.2f} {per:>16}"
        )
    print(
        f"import_from_s3: {imported['items']:,} items in {imported['files']} files, "
        f"{imported['json_bytes'] / args.items:,.0f} B DynamoDB JSON per item "
        f"({imported['gzip_bytes'] / args.items:,.0f} B gzip); staged in "
        f"{imported['staging_s']:.2f} s, imported in {imported['import_s']:.2f} s, first file "
        f"to flip {imported['first_file_to_flip_s']:.2f} s"
    )
    if args.json:
        args.json.write_text(json.dumps(
            {"items": args.items, "results": rows, "import": imported}, indent=2))


def _import(endpoint: str, n: int) -> dict[str, object]:
    """The import path on the same profiles: staged, imported, flipped (one process)."""
    dynamodb = pub.dynamodb_client("us-east-1", endpoint)
    s3 = import_files.s3_client("us-east-1", endpoint)
    s3.create_bucket(Bucket="bench-imports")
    dynamodb.create_table(**layout.table_definition("bench-fixed"))
    gen = pub.new_generation_id()
    data = GenerationData(Manifest(gen, "2026-11-27T00:00:00Z"), profiles(n), [], [], [])
    _, figures = publish_by_import(
        dynamodb, s3, "bench-fixed", data, ttl_days=1, staging_url="s3://bench-imports/x",
        region="us-east-1", s3_endpoint_url=endpoint, table_prefix="bench-fixed-gen-",
        timeout_s=3600)
    return figures.as_dict()


def _write_share(args: tuple[str, int, int, int, int]) -> float:
    """One writer process (as a Dask worker's publish task): its share of the items, with
    ``in_flight`` requests in flight; returns its CPU seconds (all its threads)."""
    endpoint, share, start, in_flight, seed = args
    client = pub.dynamodb_client("us-east-1", endpoint, connections=2 * in_flight)
    batch = items(f"w{seed}-", start + share)[start:]
    cpu = time.process_time()
    pub.write_items(client, "bench", batch, pub.PublishReport("w"), in_flight=in_flight)
    return time.process_time() - cpu


def _writers(endpoint: str, writers: int, in_flight: int, n: int) -> tuple[float, float]:
    """Wall seconds for ``writers`` processes writing ``n`` items between them, and their
    summed CPU seconds."""
    share = n // writers
    jobs = [(endpoint, share, w * share, in_flight, writers) for w in range(writers)]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(writers) as pool:
        pool.map(len, [[0]] * writers)  # processes started before the clock
        started = time.perf_counter()
        cpus = pool.map(_write_share, jobs)
        wall = time.perf_counter() - started
    return wall, sum(cpus)


if __name__ == "__main__":
    main()
