"""AWS on loopback: moto in server mode (DynamoDB, S3, ...) and dynalite (strict DynamoDB)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from loopback import ROOT
from loopback.ports import free_port, port_open
from loopback.processes import Proc
from loopback.waiting import poll_for

__all__ = ["create_delivery_stream", "dynalite_bin", "dynalite_server", "moto_server"]


@contextmanager
def moto_server() -> Iterator[str]:
    """moto in server mode on a free loopback port; yields its endpoint URL."""
    import logging

    from moto.server import ThreadedMotoServer

    # moto's werkzeug logs one line per request; keep test and demo output readable.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def dynalite_bin() -> str | None:
    candidates = [
        os.environ.get("DYNALITE_BIN"),
        str(ROOT / ".cache/node/node_modules/.bin/dynalite"),
    ]
    for c in candidates:
        if c and Path(c).exists():
            return c
    return shutil.which("dynalite")


@contextmanager
def dynalite_server() -> Iterator[str]:
    """dynalite (npm) on a free loopback port: rejects requests real DynamoDB rejects."""
    binary = dynalite_bin()
    if binary is None:
        raise RuntimeError("dynalite is not installed: run `make test` (it installs it with npm)")
    port = free_port()
    proc = Proc(
        [
            binary,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--createTableMs",
            "0",
            "--deleteTableMs",
            "0",
            "--updateTableMs",
            "0",
        ],
        name="dynalite",
    )
    try:
        poll_for(lambda: port_open(port) or not proc.alive(), 20, "dynalite to listen")
        if not proc.alive():
            raise RuntimeError(f"dynalite exited:\n{proc.output()}")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.stop()


def create_delivery_stream(endpoint: str, name: str, bucket: str, prefix: str) -> None:
    """A DirectPut Firehose stream on moto delivering to s3://bucket/prefix (moto writes
    one uncompressed object per PutRecordBatch under prefix/YYYY/MM/DD/HH/)."""
    import boto3

    boto3.client("firehose", endpoint_url=endpoint, region_name="us-east-1") \
        .create_delivery_stream(
            DeliveryStreamName=name,
            DeliveryStreamType="DirectPut",
            ExtendedS3DestinationConfiguration={
                "RoleARN": "arn:aws:iam::123456789012:role/firehose-delivery",
                "BucketARN": f"arn:aws:s3:::{bucket}",
                "Prefix": prefix,
                "ErrorOutputPrefix": "errors/",
                "CompressionFormat": "UNCOMPRESSED",
            },
        )
