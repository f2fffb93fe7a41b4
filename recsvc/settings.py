"""The service's one settings object, read from RECSVC_* environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything the service can be told. Only URLs and credentials differ between AWS
    and a laptop with moto; AWS credentials come from the usual AWS_* variables or the
    task role."""

    model_config = SettingsConfigDict(env_prefix="RECSVC_", frozen=True, extra="ignore")

    host: str = Field("0.0.0.0", description="Address the gRPC server binds to.")
    port: int = Field(50051, ge=0, le=65535, description="gRPC port; 0 picks a free one.")
    metrics_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="Prometheus /metrics HTTP port; 0 disables it. With several workers, "
        "worker n serves on metrics_port + n.",
    )
    workers: int = Field(
        1,
        ge=1,
        le=64,
        description="Server processes sharing the port (SO_REUSEPORT); the kernel spreads "
        "connections, not calls, so it helps only when clients open several connections.",
    )
    event_loop: Literal["auto", "uvloop", "asyncio"] = Field(
        "auto",
        description="auto: uvloop when installed (10-25% more calls/s than asyncio's loop).",
    )
    max_request_bytes: int = Field(
        256 * 1024,
        ge=1024,
        description="Largest request message accepted (RESOURCE_EXHAUSTED above it); the "
        "largest valid Recommend request is about 40 KB.",
    )
    max_track_bytes: int = Field(
        128 * 1024,
        ge=1024,
        description="Largest Track call (INVALID_ARGUMENT above it: send fewer events per "
        "call); keep it below max_request_bytes.",
    )
    max_metadata_bytes: int = Field(
        16 * 1024, ge=1024, description="Largest request metadata (headers) accepted."
    )
    max_concurrent_streams: int = Field(
        100,
        ge=0,
        description="Calls one client connection may have in flight, advertised in HTTP/2 "
        "SETTINGS: the client queues its calls beyond it. 0: no limit, and a burst of over "
        "~1,000 calls on one connection sees CANCELLED (grpc core drops calls waiting past "
        "a backlog of 1,000). Keep connections x limit under 1,000.",
    )
    tls_cert_file: str | None = Field(
        None, description="PEM certificate chain: set it and tls_key_file to serve TLS."
    )
    tls_key_file: str | None = Field(None, description="PEM private key of tls_cert_file.")
    tls_client_ca_file: str | None = Field(
        None,
        description="PEM CA bundle: when set (with TLS), every client must present a "
        "certificate it signed (mTLS).",
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
    l1_entries: int = Field(
        10_000,
        ge=0,
        description="Bound of the in-process L1 in front of Redis (entries); 0 disables it. "
        "Saves the Redis round trip (~200-300 us) on hot keys; keys carry the generation, "
        "so an L1 entry is never stale, only evicted.",
    )
    l1_answers: int = Field(
        10_000,
        ge=0,
        description="Finished Recommend answers kept in-process for the served generation, "
        "keyed by the request (needs the L1); 0 disables. A repeated request skips parsing, "
        "cache lookups and ranking: the biggest single saving on hot pages.",
    )
    l1_ttl_s: float = Field(
        30.0, gt=0, description="TTL of L1 entries (capped by the entry's own TTL)."
    )
    redis_cluster: bool = Field(
        False,
        description="Talk to Redis/ElastiCache in cluster mode (redis-py cluster client; "
        "redis_url names any node).",
    )
    redis_timeout_s: float = Field(
        0.2, gt=0, description="Socket timeout of one Redis call; on expiry the call is a miss."
    )
    session_events: int = Field(
        50, ge=1, le=500, description="Recent events kept per shopper in the session memory."
    )
    user_session_ttl_s: float = Field(
        30 * 86400.0, gt=0, description="How long a signed-in shopper's recent events are kept."
    )
    session_ttl_s: float = Field(
        2 * 3600.0, gt=0, description="How long an anonymous session's recent events are kept."
    )
    session_mirror_entries: int = Field(
        200_000,
        ge=0,
        description="Shoppers' session-memory values kept in-process while Redis reports "
        "them unchanged (client-side caching, CLIENT TRACKING BCAST): a shopper's events "
        "then cost no round trip per call. 0: read them from Redis on every call. Not in "
        "cluster mode.",
    )
    dedup_ttl_s: float = Field(
        86400.0,
        gt=0,
        description="How long an event_id is remembered: a retry within it changes nothing.",
    )
    firehose_stream: str = Field(
        "",
        description="Amazon Data Firehose delivery stream that accepted Track events go to "
        "(to S3, for the nightly job). Empty: events only update the session memory.",
    )
    firehose_endpoint_url: str | None = Field(
        None, description="Firehose endpoint; unset on AWS, a moto URL locally."
    )
    firehose_flush_s: float = Field(
        1.0, gt=0, description="Buffered events are sent at least this often."
    )
    firehose_batch_records: int = Field(
        500, ge=1, le=500, description="Events per PutRecordBatch (Firehose allows 500)."
    )
    firehose_buffer_records: int = Field(
        100_000,
        ge=1,
        description="Events held while Firehose is slow or away; past it the oldest are "
        "dropped and counted (Track and Recommend never wait for Firehose).",
    )
    firehose_attempts: int = Field(
        5, ge=1, le=20, description="Attempts per batch (capped, jittered back-off) before "
        "its events are dropped and counted.",
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
    recommend_tokens: str = Field(
        "",
        description="Comma-separated bearer tokens allowed to call Recommender (e.g. the "
        "BFF's alone). Empty: Recommender is open to any caller that reaches the port.",
    )
    client_cert_names: str = Field(
        "",
        description="Comma-separated client certificate subject names (CN/SAN) accepted "
        "instead of a bearer token (mTLS): for Segments, and for Recommender when "
        "recommend_tokens closes it.",
    )
    export_uri: str = Field(
        "",
        description="Where ExportSegment writes segment files: s3://bucket/prefix or a local "
        "directory (<uri>/<segment>/<generation>/<format>.<ext>). Empty: ExportSegment answers "
        "FAILED_PRECONDITION.",
    )
    pinpoint_application_id: str = Field(
        "",
        description="Pinpoint project (application) id that ExportSegment's start_import "
        "imports pinpoint-* files into. Empty: such imports answer FAILED_PRECONDITION.",
    )
    pinpoint_role_arn: str = Field(
        "",
        description="IAM role Pinpoint assumes to read the export from S3 (start_import of "
        "pinpoint-* files). Empty: such imports answer FAILED_PRECONDITION.",
    )
    ses_contact_list: str = Field(
        "",
        description="SES v2 contact list that ExportSegment's start_import upserts ses-* "
        "files into. Empty: such imports answer FAILED_PRECONDITION.",
    )
    export_recommendations: int = Field(
        4,
        ge=0,
        le=10,
        description="Recommended products ExportSegment adds to each member (id, name, "
        "price, page and image URL: template attributes Rec1Id..., see README), the ones "
        "Recommend shows them with no page context; 0: none.",
    )
    access_log: bool = Field(
        True, description="One JSON line per call (method, status, latency, source)."
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
        return _split(self.segment_tokens)

    @property
    def recommend_token_list(self) -> tuple[str, ...]:
        return _split(self.recommend_tokens)

    @property
    def client_cert_name_list(self) -> tuple[str, ...]:
        return _split(self.client_cert_names)

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            raise ValueError("tls_cert_file and tls_key_file go together")
        if self.tls_client_ca_file and not self.tls_cert_file:
            raise ValueError("tls_client_ca_file needs tls_cert_file and tls_key_file")
        return self

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Read RECSVC_* variables; ``overrides`` win (CLI flags)."""
        return cls(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]


def _split(value: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in value.split(",") if t.strip())
