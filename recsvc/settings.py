"""The service's one settings object, read from RECSVC_* environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything the service can be told. Only URLs and credentials differ between AWS
    and a laptop with moto; AWS credentials come from the usual AWS_* variables or the
    task role."""

    model_config = SettingsConfigDict(env_prefix="RECSVC_", frozen=True, extra="ignore")

    host: str = Field("0.0.0.0", description="Address the gRPC server binds to.")
    port: int = Field(50051, ge=0, le=65535, description="gRPC port; 0 picks a free one.")
    metrics_port: int = Field(
        0, ge=0, le=65535, description="Prometheus /metrics HTTP port; 0 disables it."
    )

    store: Literal["dynamodb", "memory"] = Field(
        "dynamodb",
        description="Profile store backend. memory: an empty in-process store (no AWS), "
        "for trying the server; generations must be published into it by code.",
    )
    table: str = Field("recsvc", min_length=3, description="DynamoDB table of the generations.")
    aws_region: str = Field("us-east-1", description="AWS region of DynamoDB and S3.")
    dynamodb_endpoint_url: str | None = Field(
        None, description="DynamoDB endpoint; unset on AWS, a moto/dynalite URL locally."
    )
    s3_endpoint_url: str | None = Field(None, description="S3 endpoint; unset on AWS.")
    store_timeout_s: float = Field(
        1.0,
        gt=0,
        description="Upper bound of one store call; the request deadline may cut it shorter.",
    )
    store_attempts: int = Field(
        2,
        ge=1,
        le=5,
        description="Attempts per DynamoDB call (botocore 'standard' retries, 1 = no retry); "
        "low because the request deadline is short and the fallback lists cover outages.",
    )
    store_connect_timeout_s: float = Field(
        0.5, gt=0, description="TCP connect timeout to DynamoDB; short so an outage is seen fast."
    )

    cache: Literal["auto", "redis", "memory", "none"] = Field(
        "auto",
        description="auto: Redis if it answers at start-up, else the in-process cache.",
    )
    redis_url: str = Field(
        "redis://127.0.0.1:6379/0", description="Redis/ElastiCache URL (rediss:// for TLS)."
    )
    cache_prefix: str = Field(
        "recsvc", min_length=1, description="Prefix of every cache key (share one Redis safely)."
    )
    cache_ttl_s: float = Field(300.0, gt=0, description="TTL of cached profiles and lists.")
    cache_ttl_jitter: float = Field(
        0.1,
        ge=0,
        le=0.5,
        description="TTL is spread by +-this share so hot keys don't expire together.",
    )
    negative_ttl_s: float = Field(
        60.0, gt=0, description="TTL of 'unknown user' entries: spares the store repeated misses."
    )
    memory_cache_entries: int = Field(
        50_000, ge=0, description="Bound of the in-process cache (entries)."
    )
    redis_timeout_s: float = Field(
        0.2, gt=0, description="Socket timeout of one Redis call; on expiry the call is a miss."
    )
    generation_refresh_s: float = Field(
        5.0, gt=0, description="How often the served generation pointer is re-read."
    )

    grace_s: float = Field(
        20.0, ge=0, description="SIGTERM drain period; keep below the ECS stop timeout (30 s)."
    )
    drain_delay_s: float = Field(
        1.0,
        ge=0,
        description="On SIGTERM, health reports NOT_SERVING this long before the server stops "
        "accepting calls, so health-checking clients move away first. Counts against "
        "the ECS stop timeout together with grace_s.",
    )
    segment_tokens: str = Field(
        "",
        description="Comma-separated bearer tokens allowed to call Segments (personal data). "
        "Empty: Segments calls are refused.",
    )
    log_level: str = Field("INFO", description="Python logging level.")

    @field_validator("log_level")
    @classmethod
    def _level(cls, v: str) -> str:
        v = v.upper()
        if v not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"unknown log level {v!r}")
        return v

    @property
    def segment_token_list(self) -> tuple[str, ...]:
        return tuple(t.strip() for t in self.segment_tokens.split(",") if t.strip())

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Read RECSVC_* variables; ``overrides`` win (CLI flags)."""
        return cls(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
