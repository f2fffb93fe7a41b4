"""Benchmark: what the segment history costs a run (membership files, joined/left).

Generates a synthetic shop of about ``--events`` events, then runs the job three times on
one LocalCluster, publishing to moto: without a membership location (the baseline: the
stage still counts reachable members), with one (files written, nothing to compare with
yet), and again (files written and compared with the previous generation's). Prints per
run the membership stage's seconds, the publish stage's, the whole run's, and the ratios
against the baseline run measured here.

    .venv/bin/python bench/membership.py [--events 500000] [--workers 2]
        [--worker-memory 1.5GiB] [--s3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from engines.dask_job import run_dask  # noqa: E402
from engines.published import table_definition  # noqa: E402
from engines.shop import generate  # noqa: E402

from loopback.aws import moto_server  # noqa: E402


def files_of(url: str) -> tuple[int, int]:
    """Files and bytes under a local membership location."""
    paths = [p for p in Path(url).rglob("*.parquet")]
    return len(paths), sum(p.stat().st_size for p in paths)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-memory", default="1.5GiB")
    parser.add_argument("--s3", action="store_true", help="membership files on moto S3")
    args = parser.parse_args()
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                      AWS_DEFAULT_REGION="us-east-1")
    with tempfile.TemporaryDirectory(prefix="bench-membership-") as tmp, moto_server() as ep:
        import boto3

        root = Path(tmp)
        shop = generate(root, args.events, seed=11)
        boto3.client("dynamodb", endpoint_url=ep).create_table(**table_definition("bench"))
        if args.s3:
            boto3.client("s3", endpoint_url=ep).create_bucket(Bucket="bench")
        url = "s3://bench/membership" if args.s3 else str(root / "membership")
        common: dict[str, Any] = {"tuning": False, "quality_gate": False,
                                  "s3_endpoint_url": ep}
        runs = {}
        for name, extra in (("no location", {}), ("files", {"membership_url": url}),
                            ("files + joined/left", {"membership_url": url})):
            runs[name] = run_dask(root, ep, "bench", args.workers, args.worker_memory,
                                  **common, **extra)
        print(f"shop: {shop['events']:,} events, {shop['users']:,} customers; "
              f"{args.workers} workers x {args.worker_memory}; files on "
              f"{'moto S3' if args.s3 else 'local disk'}")
        base = runs["no location"]
        last = runs["files + joined/left"]["report"]
        print(f"segments: {len(last.membership)}, memberships "
              f"{sum(last.segments.values()):,}")
        if not args.s3:
            n, size = files_of(url)
            print(f"files: {n} ({size / 2**20:.1f} MB, two generations)")
        print(f"{'run':<22} {'membership s':>12} {'publish s':>10} {'run s':>8} "
              f"{'run / baseline':>15}")
        for name, r in runs.items():
            t = r["timings"]
            print(f"{name:<22} {t.get('membership', 0):>12.2f} {t.get('publish', 0):>10.2f} "
                  f"{r['wall']:>8.1f} {r['wall'] / base['wall']:>15.3f}")
        share = runs["files + joined/left"]["timings"]["membership"] / \
            runs["files + joined/left"]["wall"]
        print(f"membership stage with files and joined/left: {share:.1%} of the run")


if __name__ == "__main__":
    main()
