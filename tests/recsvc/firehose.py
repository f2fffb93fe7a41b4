"""A Firehose delivery stream to S3 on a moto server, as tests create and read it."""

from __future__ import annotations

from dataclasses import dataclass

from loopback.aws import create_delivery_stream
from tests.conftest import s3_client, unique


@dataclass
class Stream:
    endpoint: str
    bucket: str
    name: str

    def objects(self) -> list[list[bytes]]:
        """The lines of every object Firehose wrote (one per PutRecordBatch), by key."""
        s3 = s3_client(self.endpoint)
        listed = s3.list_objects_v2(Bucket=self.bucket, Prefix="events/").get("Contents", [])
        bodies = [s3.get_object(Bucket=self.bucket, Key=o["Key"])["Body"].read()
                  for o in sorted(listed, key=lambda o: o["Key"])]
        return [body.splitlines(keepends=True) for body in bodies]


def create_stream(endpoint: str) -> Stream:
    bucket, name = unique("events"), unique("track")
    s3_client(endpoint).create_bucket(Bucket=bucket)
    create_delivery_stream(endpoint, name, bucket, "events/")
    return Stream(endpoint, bucket, name)
