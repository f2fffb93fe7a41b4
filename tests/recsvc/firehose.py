"""A Firehose delivery stream to S3 on a moto server, as tests create and read it."""

from __future__ import annotations

from dataclasses import dataclass

import boto3

from tests.conftest import REGION, s3_client, unique


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
    # credentials: the test environment's (tests/conftest.py _isolate_env)
    boto3.client("firehose", endpoint_url=endpoint, region_name=REGION).create_delivery_stream(
        DeliveryStreamName=name,
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/firehose-delivery",
            "BucketARN": f"arn:aws:s3:::{bucket}",
            "Prefix": "events/",
            "ErrorOutputPrefix": "events-errors/",
            "BufferingHints": {"IntervalInSeconds": 60, "SizeInMBs": 64},
            "CompressionFormat": "UNCOMPRESSED",
        },
    )
    return Stream(endpoint, bucket, name)
