"""Benchmark: publishing a generation to DynamoDB (moto server on loopback).

Prints items/s for `profile_engine.publish.write_items` (BatchWriteItem x25) and, in the
same run, for one PutItem per item (the baseline), and their ratio. moto is far slower
than DynamoDB per request, so read the ratio, not the absolute figures.

    .venv/bin/python bench/publish.py [--items 5000] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/publish.py` from a checkout
    sys.path.insert(0, str(ROOT))

from generation import Profile, ScoredItem, layout  # noqa: E402
from loopback.aws import moto_server  # noqa: E402
from profile_engine import publish as pub  # noqa: E402


def items(gen: str, n: int) -> list[layout.Item]:
    recs = tuple(ScoredItem(f"p{j}", 1.0 / (j + 1), "because you viewed p1") for j in range(50))
    return [
        layout.profile_item(gen, Profile(f"u{i}", recs, purchased=("p1", "p2"))) for i in range(n)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=5000)
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

    base = results["put_item_each"]
    rows = [
        {
            "name": name,
            "seconds": round(s, 3),
            "items_per_s": round(args.items / s),
            "ratio_vs_put_item": round(base / s, 2),
        }
        for name, s in results.items()
    ]
    print(f"{'method':<18} {'seconds':>8} {'items/s':>9} {'x PutItem':>10}")
    for r in rows:
        print(
            f"{r['name']:<18} {r['seconds']:>8.2f} {r['items_per_s']:>9} "
            f"{r['ratio_vs_put_item']:>10.2f}"
        )
    if args.json:
        args.json.write_text(json.dumps({"items": args.items, "results": rows}, indent=2))


if __name__ == "__main__":
    main()
