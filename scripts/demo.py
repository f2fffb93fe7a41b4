"""`make demo` / `make serve`: the whole path on one machine, with nothing but loopback servers.

moto (DynamoDB + S3) -> synthetic shop into S3 and SQLite -> profile job on a Dask
LocalCluster -> recsvc on gRPC (Redis if one answers, else the in-process cache) ->
real gRPC calls printed for a person to read. Everything started here is stopped here.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, closing
from pathlib import Path

import boto3
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import create_engine, text

from generation import layout
from loopback.aws import create_delivery_stream, moto_server
from loopback.ports import free_port, ports_outside_ephemeral
from loopback.waiting import poll_for
from recsvc.api.v1 import recommender_pb2 as rpb
from recsvc.api.v1 import recommender_pb2_grpc as rgrpc
from recsvc.api.v1 import segments_pb2 as spb
from recsvc.api.v1 import segments_pb2_grpc as sgrpc
from recsvc.requests import recommend_request
from scripts import demo_realtime
from scripts.demo_console import print_console, start_demo_console
from scripts.demo_realtime import SOURCE, say, show_recs

BIN = Path(sys.executable).parent
REGION = "us-east-1"
TABLE = "recsvc-demo"
BUCKET = "demo-shop"
SERVING = health_pb2.HealthCheckResponse.SERVING
STREAM = "recsvc-events"


def redis_answers(url: str) -> bool:
    import redis

    try:
        with closing(
            redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
        ) as r:
            return bool(r.ping())
    except redis.RedisError:
        return False


def run(cmd: list[str], env: dict[str, str]) -> None:
    started = time.perf_counter()
    print(
        "$ " + " ".join(Path(cmd[0]).name if i == 0 else c for i, c in enumerate(cmd)), flush=True
    )
    subprocess.run(cmd, env=env, check=True)
    print(f"  ({time.perf_counter() - started:.1f} s)", flush=True)


def wait_serving(target: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)

        def serving() -> bool:
            if proc.poll() is not None:
                raise SystemExit(f"recsvc exited with {proc.returncode} before serving")
            try:
                request = health_pb2.HealthCheckRequest()
                return bool(stub.Check(request, timeout=1).status == SERVING)
            except grpc.RpcError:
                return False

        try:
            poll_for(serving, timeout, "recsvc to report SERVING")
        except TimeoutError as exc:
            raise SystemExit(str(exc)) from None


def product_catalogue(replica_url: str) -> dict[str, tuple[str, str, float]]:
    engine = create_engine(replica_url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT product_id, name, category, price FROM products"))
        return {str(r[0]): (str(r[1]), str(r[2] or ""), float(r[3] or 0)) for r in rows}


def calls(target: str, token: str, catalogue: dict[str, tuple[str, str, float]]) -> None:
    auth = (("authorization", f"Bearer {token}"),)
    with grpc.insecure_channel(target) as channel:
        rec = rgrpc.RecommenderStub(channel)
        seg = sgrpc.SegmentsStub(channel)

        info = rec.Info(rpb.InfoRequest(), timeout=5)
        say("Info: the generation being served")
        print(f"generation={info.generation} published_at={info.published_at}")
        print("  " + ", ".join(f"{k}={v}" for k, v in sorted(info.counts.items())))

        segments = seg.ListSegments(spb.ListSegmentsRequest(), metadata=auth, timeout=5)
        say("ListSegments")
        for s in segments.segments:
            print(f"  {s.name:<28} {s.size:>6}  {s.description}")

        name = "high_value"
        members = list(
            seg.Segment(
                spb.SegmentRequest(name=name, page_size=50, limit=5), metadata=auth, timeout=10
            )
        )
        say(f"Segment {name}: first {len(members)} members")
        for m in members:
            attrs = ", ".join(f"{k}={v}" for k, v in sorted(m.attributes.items()))
            print(f"  {m.user_id:<10} {m.email:<30} opt_in={m.marketing_opt_in!s:<5} {attrs}")

        user = members[0].user_id
        known = rec.Recommend(recommend_request(user, 8), timeout=5)
        show_recs(f"Recommend user_id={user} k=8 (a known, high-value customer)", known, catalogue)
        again = rec.Recommend(recommend_request(user, 8), timeout=5)
        print(f"  ... asked again: source={SOURCE.get(again.source)} (cache-aside)")

        viewed = known.items[0].product_id
        category = catalogue.get(viewed, ("", "", 0))[1]
        request = recommend_request(user, 5, viewed_product_id=viewed, category=category)
        with_ctx = rec.Recommend(request, timeout=5)
        show_recs(
            f"Recommend user_id={user} k=5 viewing {viewed}, category filter {category!r}",
            with_ctx,
            catalogue,
        )

        unknown = rec.Recommend(recommend_request("visitor-never-seen", 8), timeout=5)
        show_recs(
            "Recommend user_id=visitor-never-seen k=8 (unknown user: fallback)", unknown, catalogue
        )

        known_ids = [i.product_id for i in known.items]
        unknown_ids = [i.product_id for i in unknown.items]
        if known_ids == unknown_ids:
            raise SystemExit(
                "known user's recommendations equal the fallback: personalisation is broken"
            )
        print(
            f"\nknown user vs fallback: {len(set(known_ids) - set(unknown_ids))} "
            f"of {len(known_ids)} "
            "products differ"
        )

        try:
            rec.Recommend(recommend_request("u1", 1000), timeout=5)
        except grpc.RpcError as err:
            say("A malformed request")
            print(f"  k=1000 -> {err.code().name}: {err.details()}")

        demo_realtime.realtime(rec, user, known, catalogue)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--serve", action="store_true", help="leave the service running until Ctrl-C"
    )
    parser.add_argument("--users", type=int, default=3000)
    parser.add_argument("--products", type=int, default=600)
    parser.add_argument("--days", type=int, default=45)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--port", type=int, default=0, help="gRPC port (default: a free one)")
    args = parser.parse_args()
    started = time.perf_counter()

    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="recs-demo-")))
        say("Starting moto (DynamoDB + S3) in server mode")
        env_aws = {
            "AWS_ACCESS_KEY_ID": "demo",
            "AWS_SECRET_ACCESS_KEY": "demo",
            "AWS_DEFAULT_REGION": REGION,
        }
        os.environ.update(env_aws)
        endpoint = stack.enter_context(moto_server())
        print(f"moto at {endpoint}")
        dynamodb = boto3.client("dynamodb", endpoint_url=endpoint, region_name=REGION)
        dynamodb.create_table(**layout.table_definition(TABLE))
        dynamodb.update_time_to_live(
            TableName=TABLE,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": layout.TTL_ATTRIBUTE},
        )
        boto3.client("s3", endpoint_url=endpoint, region_name=REGION).create_bucket(Bucket=BUCKET)
        # Track's events go to the nightly job's input through Firehose (as deploy/ sets up).
        create_delivery_stream(endpoint, STREAM, BUCKET, "events/firehose/")
        print(f"table {TABLE}, bucket s3://{BUCKET}, Firehose stream {STREAM} -> "
              f"s3://{BUCKET}/events/firehose/")

        replica_url = f"sqlite:///{workdir / 'shop.db'}"
        events = f"s3://{BUCKET}/events"
        env = {
            **os.environ,
            **env_aws,
            "PROFILE_ENGINE_EVENTS": events,
            "PROFILE_ENGINE_REPLICA_URL": replica_url,
            "PROFILE_ENGINE_TABLE": TABLE,
            "PROFILE_ENGINE_DYNAMODB_ENDPOINT_URL": endpoint,
            "PROFILE_ENGINE_S3_ENDPOINT_URL": endpoint,
            # Each generation's segment members: the second run reports who joined and left.
            "PROFILE_ENGINE_MEMBERSHIP_URL": str(workdir / "membership"),
        }
        say("Generating a synthetic shop into S3 (events) and SQLite (replica tables)")
        run(
            [
                str(BIN / "profile-engine"),
                "generate",
                "--users",
                str(args.users),
                "--products",
                str(args.products),
                "--days",
                str(args.days),
                "--seed",
                str(args.seed),
                "--events",
                events,
                "--replica-url",
                replica_url,
            ],
            env,
        )

        say("Running the profile job (Dask LocalCluster) and publishing to DynamoDB")
        run([str(BIN / "profile-engine"), "run"], env)

        redis_url = os.environ.get("RECSVC_REDIS_URL", "redis://127.0.0.1:6379/0")
        cache = "redis" if redis_answers(redis_url) else "memory"
        token = secrets.token_urlsafe(16)
        grpc_port = args.port or free_port()
        target = f"127.0.0.1:{grpc_port}"
        metrics_port = ports_outside_ephemeral()
        say("Starting recsvc")
        print(
            f"cache: Redis at {redis_url}"
            if cache == "redis"
            else f"cache: in-process (no Redis answered at {redis_url})"
        )
        svc_env = {
            **os.environ,
            **env_aws,
            "RECSVC_HOST": "127.0.0.1",
            "RECSVC_PORT": str(grpc_port),
            "RECSVC_TABLE": TABLE,
            "RECSVC_DYNAMODB_ENDPOINT_URL": endpoint,
            "RECSVC_S3_ENDPOINT_URL": endpoint,
            "RECSVC_CACHE": cache,
            "RECSVC_REDIS_URL": redis_url,
            "RECSVC_SEGMENT_TOKENS": token,
            "RECSVC_LOG_LEVEL": "WARNING",
            "RECSVC_FIREHOSE_STREAM": STREAM,
            "RECSVC_FIREHOSE_ENDPOINT_URL": endpoint,
            "RECSVC_GENERATION_REFRESH_S": "0.5",
            "RECSVC_METRICS_PORT": str(metrics_port),
        }
        log = (workdir / "recsvc.log").open("wb")
        proc = subprocess.Popen(
            [str(BIN / "recsvc"), "serve"], env=svc_env, stdout=log, stderr=subprocess.STDOUT
        )

        def stop_service() -> None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
            log.close()

        stack.callback(stop_service)
        try:
            wait_serving(target, proc)
        except SystemExit:
            log.flush()
            print((workdir / "recsvc.log").read_text()[-4000:])
            raise
        print(f"recsvc serving on {target}")

        calls(target, token, product_catalogue(replica_url))
        demo_realtime.next_night(
            target, lambda: run([str(BIN / "profile-engine"), "run"], env))

        if args.serve:
            console_url, tokens = start_demo_console(
                stack, endpoint=endpoint, table=TABLE, bucket=BUCKET, target=target,
                metrics_url=f"http://127.0.0.1:{metrics_port}/metrics")
            say(f"recsvc is serving on {target}; Ctrl-C stops everything")
            print_console(console_url, tokens)
            print(f"  grpcurl -plaintext {target} list")
            print(
                f'  grpcurl -plaintext -d \'{{"user_id": "visitor", "k": 5}}\' {target} '
                "recsvc.api.v1.Recommender/Recommend"
            )
            print(
                f"  grpcurl -plaintext -H 'authorization: Bearer {token}' {target} "
                "recsvc.api.v1.Segments/ListSegments"
            )
            print(
                f"  ({BIN / 'grpcurl'} is the grpcurl binary installed in the virtualenv)",
                flush=True,
            )
            # Ctrl-C, or SIGTERM from a supervisor, stops everything this script started.
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, signal.default_int_handler)
            try:
                proc.wait()
            except KeyboardInterrupt:
                print("\nstopping...", flush=True)
        say("Stopping everything")
    print(f"demo finished in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
