"""Shared fixtures: environment isolation and real servers on loopback."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest

from generation import layout
from loopback import ROOT
from loopback.aws import dynalite_server, moto_server

REGION = "us-east-1"
PG_ADMIN_URL = os.environ.get(
    "TEST_PG_ADMIN_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=test"
)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(autouse=True)
def _isolate_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test sees the developer's AWS profile or service settings."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "RECSVC_", "PROFILE_ENGINE_")):
            monkeypatch.delenv(name)
    empty = tmp_path_factory.getbasetemp() / "empty-aws-config"
    empty.touch()
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    with moto_server() as url:
        yield url


@pytest.fixture(scope="session")
def dynalite_endpoint() -> Iterator[str]:
    with dynalite_server() as url:
        yield url


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def dynamodb_client(endpoint: str):  # type: ignore[no-untyped-def]
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def s3_client(endpoint: str):  # type: ignore[no-untyped-def]
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def create_table(endpoint: str, name: str, ttl: bool = True) -> None:
    client = dynamodb_client(endpoint)
    client.create_table(**layout.table_definition(name))
    client.get_waiter("table_exists").wait(
        TableName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100}
    )
    if ttl:
        client.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": layout.TTL_ATTRIBUTE},
        )


@pytest.fixture
def table_factory() -> Iterator[Callable[..., str]]:
    """make(endpoint, ttl=True) -> a fresh table name, deleted after the test."""
    made: list[tuple[str, str]] = []

    def make(endpoint: str, ttl: bool = True) -> str:
        name = unique("recs")
        create_table(endpoint, name, ttl=ttl)
        made.append((endpoint, name))
        return name

    yield make
    for endpoint, name in made:
        try:
            dynamodb_client(endpoint).delete_table(TableName=name)
        except Exception:  # the server may be gone in failure tests
            pass


@pytest.fixture
def moto_table(moto_endpoint: str, table_factory: Callable[..., str]) -> str:
    return table_factory(moto_endpoint)


@pytest.fixture
def s3_bucket(moto_endpoint: str) -> Iterator[str]:
    name = unique("shop")
    s3 = s3_client(moto_endpoint)
    s3.create_bucket(Bucket=name)
    yield name
    try:
        paginator = s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=name):
            for obj in page.get("Contents", []):
                s3.delete_object(Bucket=name, Key=obj["Key"])
        s3.delete_bucket(Bucket=name)
    except Exception:
        pass


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test (the replica tables), dropped after."""
    import psycopg

    name = unique("recs").replace("-", "_")
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    dsn = psycopg.conninfo.conninfo_to_dict(PG_ADMIN_URL)
    user, host = dsn.get("user", "postgres"), dsn.get("host", "127.0.0.1")
    port = dsn.get("port", 5432)
    yield f"postgresql+psycopg://{user}@{host}:{port}/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_url() -> str:
    return REDIS_URL


@pytest.fixture
def cache_prefix() -> Iterator[str]:
    """A per-test Redis key prefix; its keys are deleted after the test."""
    import redis

    prefix = unique("t")
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    except redis.RedisError:
        pass
    finally:
        client.close()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT
