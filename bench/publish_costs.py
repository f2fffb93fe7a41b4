"""What publishing a generation costs on DynamoDB: BatchWriteItem (on-demand) vs import from S3.

Runs the job on a synthetic shop (``profile-engine generate``'s model: ``--customers``
registered customers, ``--products`` products, ``--days`` of clickstream) on a LocalCluster,
publishing by import into moto, then measures what the job actually produced: items per
section, each item's DynamoDB size (attribute names + values, the size write request units
are billed on: one WRU per started KB of each item, BatchWriteItem bills every item as its
own PutItem) and the DynamoDB-JSON bytes an import is billed on (uncompressed). Per
registered customer (the shop's anonymous visitors and segment memberships scale with its
customers) and per product, it extrapolates to 1 M, 10 M and 50 M customers with
``--products-at-scale`` products, and prints the cost of one generation both ways at the
us-east-1 prices below (README "Publishing by import" names their source and date).

    .venv/bin/python bench/publish_costs.py [--customers 2000] [--products 500] [--days 30]
        [--products-at-scale 100000] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/publish_costs.py` from a checkout
    sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402

from generation import layout  # noqa: E402
from loopback.aws import moto_server  # noqa: E402
from profile_engine import pipeline, synthetic  # noqa: E402
from profile_engine.import_files import item_line  # noqa: E402
from profile_engine.settings import EngineSettings  # noqa: E402

# us-east-1, DynamoDB Standard table class, read 2026-11-27 (README names the sources).
USD_PER_MILLION_WRU = 0.625  # on-demand write request units (since the 2024-11-01 cut)
USD_PER_GB_IMPORTED = 0.15  # import from S3, per GB of uncompressed source data
SCALES = (1_000_000, 10_000_000, 50_000_000)
# Sections that grow with the catalogue, and those of a fixed size (one popular list per
# category); everything else grows with the customers.
PER_PRODUCT = {"neighbours", "catalogue"}
FIXED = {"popular"}


def item_size(item: dict[str, dict[str, Any]]) -> int:
    """DynamoDB's item size: attribute name lengths plus value lengths (numbers: about one
    byte per two digits plus one)."""
    size = 0
    for name, value in item.items():
        ((kind, raw),) = value.items()
        size += len(name.encode())
        if kind == "S":
            size += len(raw.encode())
        elif kind == "B":
            size += len(raw)
        else:
            size += math.ceil(len(raw.lstrip("-").replace(".", "")) / 2) + 1
    return size


def section(item: dict[str, dict[str, Any]]) -> str:
    pk, sk = layout.key_of(item)
    if sk == "profile":
        return "profiles"
    if sk == "neighbours":
        return "neighbours"
    if "#segment#" in pk:
        return "segment_members"
    if pk.endswith("#popular"):
        return "popular"
    return "catalogue"


def measure(args: argparse.Namespace, workdir: Path, endpoint: str) -> dict[str, Any]:
    shop = synthetic.generate(users=args.customers, products=args.products, days=args.days,
                              seed=7)
    url = f"sqlite:///{workdir / 'shop.db'}"
    synthetic.write_tables(shop, url)
    synthetic.write_events(shop.events, str(workdir / "events"), {})
    dynamodb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(
        Bucket="costs")
    dynamodb.create_table(**layout.table_definition("costs"))
    report = pipeline.run(EngineSettings(
        events=str(workdir / "events"), replica_url=url, table="costs", workers=2,
        dynamodb_endpoint_url=endpoint, s3_endpoint_url=endpoint, publish_mode="import",
        import_staging="s3://costs/imports", quality_gate=False, progress=False,
    ))
    imported = report.publish["import"]
    counts: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    wru: Counter[str] = Counter()
    json_bytes: Counter[str] = Counter()
    for page in dynamodb.get_paginator("scan").paginate(TableName=imported["table"]):
        for item in page["Items"]:
            name, size = section(item), item_size(item)
            counts[name] += 1
            sizes[name] += size
            wru[name] += math.ceil(size / 1024)
            json_bytes[name] += len(item_line(item))
    assert sum(json_bytes.values()) == imported["json_bytes"]  # what the workers staged
    return {"customers": args.customers, "products": args.products,
            "users": report.counts["users"], "counts": dict(counts), "bytes": dict(sizes),
            "wru": dict(wru), "json_bytes": dict(json_bytes),
            "gzip_bytes": imported["gzip_bytes"]}


def extrapolate(m: dict[str, Any], customers: int, products: int) -> dict[str, float]:
    items = wru = size = json_bytes = 0.0
    for name, n in m["counts"].items():
        scale = (1.0 if name in FIXED else products / m["products"] if name in PER_PRODUCT
                 else customers / m["customers"])
        items += n * scale
        wru += m["wru"][name] * scale
        size += m["bytes"][name] * scale
        json_bytes += m["json_bytes"][name] * scale
    json_gb = json_bytes / 1e9
    return {"customers": customers, "items": items, "item_gb": size / 1e9, "wru": wru,
            "json_gb": json_gb, "writes_usd": wru / 1e6 * USD_PER_MILLION_WRU,
            "import_usd": json_gb * USD_PER_GB_IMPORTED}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--products", type=int, default=500)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--products-at-scale", type=int, default=100_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    with tempfile.TemporaryDirectory() as tmp, moto_server() as endpoint:
        m = measure(args, Path(tmp), endpoint)
    print(f"measured: {m['customers']:,} customers ({m['users']:,} users with a profile), "
          f"{m['products']:,} products")
    print(f"{'section':<16} {'items':>8} {'per cust.':>10} {'avg B':>7} {'WRU/item':>9} "
          f"{'JSON B':>7}")
    for name, n in sorted(m["counts"].items()):
        per = "" if name in PER_PRODUCT | FIXED else f"{n / m['customers']:.2f}"
        print(f"{name:<16} {n:>8,} {per:>10} {m['bytes'][name] / n:>7,.0f} "
              f"{m['wru'][name] / n:>9.2f} {m['json_bytes'][name] / n:>7,.0f}")
    total_json = sum(m["json_bytes"].values())
    print(f"import files: {total_json:,} B DynamoDB JSON, {m['gzip_bytes']:,} B gzip "
          f"({m['gzip_bytes'] / total_json:.0%})")
    rows = [extrapolate(m, c, args.products_at_scale) for c in SCALES]
    print(f"\none generation, {args.products_at_scale:,} products; ${USD_PER_MILLION_WRU}/M "
          f"WRU, ${USD_PER_GB_IMPORTED}/GB imported")
    print(f"{'customers':>11} {'items':>13} {'WRU':>13} {'writes $':>9} {'JSON GB':>8} "
          f"{'import $':>9}")
    for r in rows:
        print(f"{r['customers']:>11,} {r['items']:>13,.0f} {r['wru']:>13,.0f} "
              f"{r['writes_usd']:>9.2f} {r['json_gb']:>8.1f} {r['import_usd']:>9.2f}")
    if args.json:
        args.json.write_text(json.dumps({"measured": m, "scales": rows}, indent=2))


if __name__ == "__main__":
    main()
